//! Objectors named in other people's text. Every person with an objection
//! in force (users: display name and handles; people without an account:
//! the subject's name, handles, emails and phones) is looked for in every
//! included text, and each occurrence becomes a placeholder: `<PERSON>`,
//! `@<USER>`, `<EMAIL>`, `<PHONE>`.
//!
//! Matching is case-insensitive, on word boundaries, after Unicode NFC and
//! the German spellings folded together (ä/ae, ö/oe, ü/ue, ß/ss), so
//! "Jürgen Müller", "JUERGEN MUELLER" and "jürgen müller" are one name. All
//! identifiers go into one Aho-Corasick automaton and each text is scanned
//! once, however many objectors there are; an ASCII text (most of them) is
//! scanned as it is, without a folded copy.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// What an identifier is, and so its placeholder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    Name,
    Handle,
    Email,
    Phone,
}

impl IdKind {
    fn placeholder(self) -> &'static str {
        match self {
            IdKind::Name => "<PERSON>",
            IdKind::Handle => "@<USER>",
            IdKind::Email => "<EMAIL>",
            IdKind::Phone => "<PHONE>",
        }
    }
}

/// One way an objector can be named, and whose it is (`owner`: an index the
/// caller chooses, such as the objector's position in its own list).
#[derive(Clone, Debug)]
pub struct Identifier {
    pub text: String,
    pub kind: IdKind,
    pub owner: u32,
}

/// How many mentions of objectors were replaced, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MentionCounts {
    pub names: u64,
    pub handles: u64,
    pub emails: u64,
    pub phones: u64,
}

impl MentionCounts {
    pub fn add(&mut self, other: &MentionCounts) {
        self.names += other.names;
        self.handles += other.handles;
        self.emails += other.emails;
        self.phones += other.phones;
    }

    pub fn total(&self) -> u64 {
        self.names + self.handles + self.emails + self.phones
    }

    fn count(&mut self, kind: IdKind) {
        match kind {
            IdKind::Name => self.names += 1,
            IdKind::Handle => self.handles += 1,
            IdKind::Email => self.emails += 1,
            IdKind::Phone => self.phones += 1,
        }
    }
}

/// Identifiers shorter than this (folded, in characters) are not looked
/// for: "Al" or "Bo" would take every word that happens to be spelled so.
pub const MIN_CHARS: usize = 3;

/// The compiled identifiers of a build's objectors.
pub struct ObjectorNames {
    automaton: Option<AhoCorasick>,
    /// Per pattern: its kind and owners (one folded spelling may be several
    /// objectors' name).
    patterns: Vec<(IdKind, Vec<u32>)>,
    /// Mentions replaced per pattern (one add per mention, however many
    /// objectors share the spelling), for the per-person lookup.
    per_pattern: Vec<AtomicU64>,
    owners: usize,
}

impl std::fmt::Debug for ObjectorNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the names themselves: they are personal data.
        write!(f, "ObjectorNames({} identifiers)", self.patterns.len())
    }
}

/// The German spellings and case beyond ASCII folded together (after NFC;
/// ASCII case the automaton ignores itself), whitespace runs made one
/// space. With `from`: for each byte of the folded text, the byte offset in
/// `text` of the character it came from (and one past the end).
fn fold(text: &str, mut from: Option<&mut Vec<usize>>) -> String {
    let bytes = text.as_bytes();
    let mut folded = String::with_capacity(text.len() + 8);
    let note = |from: &mut Option<&mut Vec<usize>>, at: usize, n: usize| {
        if let Some(f) = from {
            f.extend(std::iter::repeat_n(at, n));
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        // A run of ASCII that is not whitespace is copied as it is.
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii() && !(bytes[i] as char).is_whitespace() {
            i += 1;
        }
        if i > start {
            folded.push_str(&text[start..i]);
            if let Some(f) = from.as_deref_mut() {
                f.extend(start..i);
            }
            continue;
        }
        let c = text[i..].chars().next().expect("i is on a character boundary");
        let at = i;
        i += c.len_utf8();
        // Any run of whitespace is one space, as in the patterns.
        if c.is_whitespace() {
            if !folded.ends_with(' ') {
                folded.push(' ');
                note(&mut from, at, 1);
            }
            continue;
        }
        for lower in c.to_lowercase() {
            let piece: &str = match lower {
                'ä' => "ae",
                'ö' => "oe",
                'ü' => "ue",
                'ß' => "ss",
                _ => {
                    let start = folded.len();
                    folded.push(lower);
                    note(&mut from, at, folded.len() - start);
                    continue;
                }
            };
            folded.push_str(piece);
            note(&mut from, at, piece.len());
        }
    }
    note(&mut from, text.len(), 1);
    folded
}

/// Whether [`fold`] would change `text` beyond ASCII case (which the
/// automaton ignores itself): whitespace other than single spaces, an
/// umlaut or ß, a letter beyond ASCII whose lower case differs, or a text
/// not in NFC. Most texts,
/// emoji and all, are scanned as they are.
fn needs_fold(text: &str) -> bool {
    let bytes = text.as_bytes();
    if text.is_ascii() {
        return bytes
            .iter()
            .enumerate()
            .any(|(i, &b)| (b != b' ' && (b as char).is_whitespace()) || (b == b' ' && i > 0 && bytes[i - 1] == b' '));
    }
    let mut space = false;
    for c in text.chars() {
        if c == ' ' {
            if space {
                return true;
            }
            space = true;
            continue;
        }
        space = false;
        // Any character whose lower case differs: capitals, and title-case
        // digraphs such as 'ǅ' that are not "uppercase".
        let changes = || matches!(c, 'ä' | 'ö' | 'ü' | 'ß') || c.to_lowercase().ne(std::iter::once(c));
        if c.is_whitespace() || (!c.is_ascii() && changes()) {
            return true;
        }
    }
    unicode_normalization::is_nfc_quick(text.chars()) != unicode_normalization::IsNormalized::Yes
}

/// A pattern's folded form: NFC, then [`fold`], spaces collapsed.
fn fold_pattern(s: &str) -> String {
    let nfc: String = s.nfc().collect();
    // Lower case throughout: one spelling, one pattern.
    let folded = fold(nfc.trim(), None).to_ascii_lowercase();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Whether the match at `start..end` of `folded` is part of a longer token:
/// a word, or an address or domain (`maria@mueller.de` does not hold the
/// name "Müller", and its `@` and `.` must stay for the email pattern).
/// A handle may follow an `@` that starts a mention (not one inside an
/// address).
fn joined(folded: &str, start: usize, end: usize, handle: bool) -> bool {
    let mut before = folded[..start].chars().rev();
    let mut after = folded[end..].chars();
    let (b1, b2) = (before.next(), before.next());
    let (a1, a2) = (after.next(), after.next());
    let glue = |c: Option<char>| matches!(c, Some('.' | '-' | '+'));
    let at_before = b1 == Some('@') && (!handle || is_word(b2));
    is_word(b1) || at_before || (glue(b1) && is_word(b2)) || is_word(a1) || a1 == Some('@') || (glue(a1) && is_word(a2))
}

impl ObjectorNames {
    /// Compiles `identifiers`; `owners` is how many owners there are (the
    /// largest `owner` plus one). Identifiers under [`MIN_CHARS`] are left out.
    pub fn new(identifiers: impl IntoIterator<Item = Identifier>, owners: usize) -> ObjectorNames {
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        let mut texts: Vec<String> = Vec::new();
        let mut patterns: Vec<(IdKind, Vec<u32>)> = Vec::new();
        for id in identifiers {
            let text = match id.kind {
                // A handle is found with or without its @.
                IdKind::Handle => fold_pattern(id.text.trim_start_matches('@')),
                _ => fold_pattern(&id.text),
            };
            if text.chars().count() < MIN_CHARS {
                continue;
            }
            match index.get(&text) {
                Some(&i) => patterns[i].1.push(id.owner),
                None => {
                    index.insert(text.clone(), texts.len());
                    texts.push(text);
                    patterns.push((id.kind, vec![id.owner]));
                }
            }
        }
        // The crate's choice (a contiguous NFA for this many patterns). A
        // DFA scanned twice as fast in a small benchmark (139,042 names and
        // handles, 112 MB) but made the 10M-item build slower and 200 MB
        // larger: its table no longer fits the caches.
        let automaton = (!texts.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .ascii_case_insensitive(true)
                .build(&texts)
                .expect("identifiers compile")
        });
        ObjectorNames {
            automaton,
            per_pattern: (0..patterns.len()).map(|_| AtomicU64::new(0)).collect(),
            patterns,
            owners,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.automaton.is_none()
    }

    /// Mentions replaced so far, per owner (a mention of a spelling that
    /// several objectors share counts for each of them: it named each).
    pub fn mentions_per_owner(&self) -> Vec<u64> {
        let mut out = vec![0; self.owners];
        for ((_, owners), n) in self.patterns.iter().zip(&self.per_pattern) {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                for &o in owners {
                    if let Some(slot) = out.get_mut(o as usize) {
                        *slot += n;
                    }
                }
            }
        }
        out
    }

    /// Replaces every mention of an objector in `text`; borrowed when there
    /// is none.
    pub fn redact<'t>(&self, text: &'t str, counts: &mut MentionCounts) -> Cow<'t, str> {
        let Some(ac) = &self.automaton else {
            return Cow::Borrowed(text);
        };
        if !needs_fold(text) {
            return self.replace(ac, text, text, None, counts);
        }
        let nfc = nfc(text);
        let folded = fold(&nfc, None);
        // The byte map only for a text that names someone.
        let mut any = false;
        self.for_each_match(ac, &folded, &mut |_, _, _| {
            any = true;
            false
        });
        if !any {
            return Cow::Borrowed(text);
        }
        let mut from = Vec::with_capacity(folded.len() + 1);
        fold(&nfc, Some(&mut from));
        match self.replace(ac, &nfc, &folded, Some(&from), counts) {
            Cow::Owned(s) => Cow::Owned(s),
            // Nothing replaced: the text as it came (not its NFC form).
            Cow::Borrowed(_) => Cow::Borrowed(text),
        }
    }

    /// Calls `each` with the owner of every identifier named in `text`
    /// (once per mention), replacing nothing and counting nothing: what a
    /// build screens a new third-party objection with.
    pub fn owners_in(&self, text: &str, mut each: impl FnMut(u32)) {
        let Some(ac) = &self.automaton else {
            return;
        };
        let mut hit = |_: usize, _: usize, pattern: usize| {
            for &owner in &self.patterns[pattern].1 {
                each(owner);
            }
            true
        };
        if needs_fold(text) {
            self.for_each_match(ac, &fold(&nfc(text), None), &mut hit);
        } else {
            self.for_each_match(ac, text, &mut hit);
        }
    }

    /// Every whole-token match in `folded`, leftmost-longest: its folded
    /// byte range and pattern; `each` returns whether to go on.
    fn for_each_match(&self, ac: &AhoCorasick, folded: &str, each: &mut impl FnMut(usize, usize, usize) -> bool) {
        let mut pos = 0;
        while let Some(m) = ac.find(aho_corasick::Input::new(folded).span(pos..folded.len())) {
            let handle = self.patterns[m.pattern().as_usize()].0 == IdKind::Handle;
            if joined(folded, m.start(), m.end(), handle) {
                // A shorter identifier may start inside this one ("Schmidt"
                // in "Johanna Schmidt" when "anna schmidt" is not a word).
                pos = m.start() + folded[m.start()..].chars().next().map_or(1, char::len_utf8);
                continue;
            }
            pos = m.end();
            if !each(m.start(), m.end(), m.pattern().as_usize()) {
                return;
            }
        }
    }

    /// Replaces in `original` the matches found in `folded` (`from` maps
    /// folded bytes to original ones; None: the same bytes).
    fn replace<'a>(
        &self,
        ac: &AhoCorasick,
        original: &'a str,
        folded: &str,
        from: Option<&[usize]>,
        counts: &mut MentionCounts,
    ) -> Cow<'a, str> {
        let at = |i: usize| from.map_or(i, |f| f[i]);
        let mut out: Option<String> = None;
        let mut last = 0;
        self.for_each_match(ac, folded, &mut |m_start, m_end, pattern| {
            let kind = &self.patterns[pattern].0;
            let (mut start, end) = (at(m_start), at(m_end));
            // "@handle" goes as a whole.
            if *kind == IdKind::Handle && original[..start].ends_with('@') {
                start -= 1;
            }
            if start < last {
                return true;
            }
            let out = out.get_or_insert_with(|| String::with_capacity(original.len()));
            out.push_str(&original[last..start]);
            out.push_str(kind.placeholder());
            last = end;
            counts.count(*kind);
            self.per_pattern[pattern].fetch_add(1, Ordering::Relaxed);
            true
        });
        match out {
            None => Cow::Borrowed(original),
            Some(mut out) => {
                out.push_str(&original[last..]);
                Cow::Owned(out)
            }
        }
    }
}

/// `text` in NFC, borrowed when it already is.
fn nfc(text: &str) -> Cow<'_, str> {
    match unicode_normalization::is_nfc_quick(text.chars()) {
        unicode_normalization::IsNormalized::Yes => Cow::Borrowed(text),
        _ => Cow::Owned(text.nfc().collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ids: &[(&str, IdKind)]) -> ObjectorNames {
        let ids = ids.iter().enumerate().map(|(i, (text, kind))| Identifier {
            text: text.to_string(),
            kind: *kind,
            owner: i as u32,
        });
        ObjectorNames::new(ids, 8)
    }

    fn redact(n: &ObjectorNames, text: &str) -> String {
        n.redact(text, &mut MentionCounts::default()).into_owned()
    }

    #[test]
    fn german_spellings_and_case_are_one_name() {
        let n = names(&[("Jürgen Müller", IdKind::Name)]);
        for text in [
            "Gestern mit Jürgen Müller im Kino.",
            "Gestern mit JUERGEN MUELLER im Kino.",
            "Gestern mit jürgen müller im Kino.",
            "Gestern mit Ju\u{308}rgen Mu\u{308}ller im Kino.",
        ] {
            assert_eq!(redact(&n, text), "Gestern mit <PERSON> im Kino.", "{text}");
        }
        assert_eq!(n.mentions_per_owner()[0], 4);
    }

    #[test]
    fn only_whole_words_and_only_objectors() {
        let n = names(&[("Anna Schmidt", IdKind::Name), ("anna.s", IdKind::Handle)]);
        assert_eq!(redact(&n, "Anna Schmidtke kam."), "Anna Schmidtke kam.");
        assert_eq!(redact(&n, "Hanna Schmidt kam."), "Hanna Schmidt kam.");
        assert_eq!(redact(&n, "Lisa Weber kam."), "Lisa Weber kam.");
        assert_eq!(
            redact(&n, "Grüße an @anna.s und anna.s!"),
            "Grüße an @<USER> und @<USER>!"
        );
        assert_eq!(redact(&n, "(Anna Schmidt)"), "(<PERSON>)");
        let short = names(&[("Al", IdKind::Name)]);
        assert!(short.is_empty(), "too short to look for");
    }

    #[test]
    fn addresses_stay_whole_and_names_across_any_whitespace_are_found() {
        let n = names(&[("Müller", IdKind::Name), ("Anna Schmidt", IdKind::Name)]);
        // The name inside someone's address is not the name: the email
        // pattern that runs next needs the address whole.
        assert_eq!(
            redact(&n, "Post an maria@mueller.de bitte"),
            "Post an maria@mueller.de bitte"
        );
        assert_eq!(
            redact(&n, "Post an mueller.maria@web.de"),
            "Post an mueller.maria@web.de"
        );
        assert_eq!(redact(&n, "Frau Müller. Danke"), "Frau <PERSON>. Danke");
        for text in [
            "Mit Anna  Schmidt",
            "Mit Anna\nSchmidt",
            "Mit Anna\u{a0}Schmidt",
            "Mit anna \t schmidt",
        ] {
            assert_eq!(redact(&n, text), "Mit <PERSON>", "{text:?}");
        }
    }

    #[test]
    fn a_name_inside_a_longer_non_match_is_still_found() {
        let n = names(&[("anna schmidt", IdKind::Name), ("schmidt", IdKind::Handle)]);
        assert_eq!(redact(&n, "Grüße an Johanna Schmidt"), "Grüße an Johanna @<USER>");
    }

    #[test]
    fn third_party_contacts_get_their_placeholders_and_counts() {
        let n = names(&[("maria@example.org", IdKind::Email), ("+49 170 1234567", IdKind::Phone)]);
        let mut counts = MentionCounts::default();
        let out = n.redact("Schreib maria@example.org oder ruf +49 170 1234567 an.", &mut counts);
        assert_eq!(out, "Schreib <EMAIL> oder ruf <PHONE> an.");
        assert_eq!(
            counts,
            MentionCounts {
                names: 0,
                handles: 0,
                emails: 1,
                phones: 1
            }
        );
        assert!(matches!(n.redact("nichts hier", &mut counts), Cow::Borrowed(_)));
    }

    #[test]
    fn owners_in_names_each_mention_and_replaces_nothing() {
        let n = names(&[("Jürgen Müller", IdKind::Name), ("anna.s", IdKind::Handle)]);
        let mut seen = Vec::new();
        n.owners_in("JUERGEN MUELLER und @anna.s, wieder Jürgen  Müller", |o| seen.push(o));
        assert_eq!(seen, vec![0, 1, 0]);
        assert_eq!(n.mentions_per_owner()[0], 0, "screening counts no mention");
    }

    proptest::proptest! {
        /// The fast path is sound: where `needs_fold` says no, folding
        /// would change nothing but ASCII case, so scanning the text as it
        /// is finds what scanning its folded form finds.
        #[test]
        fn a_text_scanned_unfolded_is_its_own_folded_form(
            text in "[a-zA-Z0-9 @.\\t\\n\u{a0}äöüßÄÖÜéÉǅİ\u{308}😊-]{0,24}"
        ) {
            if !needs_fold(&text) {
                proptest::prop_assert!(fold(&nfc(&text), None).eq_ignore_ascii_case(&text), "{:?}", text);
            }
        }
    }

    #[test]
    fn capitals_beyond_ascii_title_case_and_odd_spaces_are_folded_before_the_scan() {
        let n = names(&[("Émile Zola", IdKind::Name), ("ǆuro", IdKind::Name)]);
        for text in ["Mit ÉMILE ZOLA", "Mit émile\tzola", "Mit Émile\u{a0}Zola", "Mit ǅuro"] {
            assert!(redact(&n, text).ends_with("<PERSON>"), "{text:?}: {}", redact(&n, text));
        }
    }
}
