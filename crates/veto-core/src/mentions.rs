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
    /// Mentions replaced per owner, for the per-person lookup.
    per_owner: Vec<AtomicU64>,
}

impl std::fmt::Debug for ObjectorNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the names themselves: they are personal data.
        write!(f, "ObjectorNames({} identifiers)", self.patterns.len())
    }
}

/// The German spellings and case folded together, after NFC; for each byte
/// of the folded text, the byte offset in `text` of the character it came
/// from (and one past the end).
fn fold(text: &str) -> (String, Vec<usize>) {
    let mut folded = String::with_capacity(text.len() + 8);
    let mut from = Vec::with_capacity(text.len() + 9);
    for (at, c) in text.char_indices() {
        // Any run of whitespace is one space, as in the patterns.
        if c.is_whitespace() {
            if !folded.ends_with(' ') {
                folded.push(' ');
                from.push(at);
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
                    from.extend(std::iter::repeat_n(at, folded.len() - start));
                    continue;
                }
            };
            folded.push_str(piece);
            from.extend(std::iter::repeat_n(at, piece.len()));
        }
    }
    from.push(text.len());
    (folded, from)
}

/// A pattern's folded form: NFC, then [`fold`], spaces collapsed.
fn fold_pattern(s: &str) -> String {
    let nfc: String = s.nfc().collect();
    let (folded, _) = fold(nfc.trim());
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

/// An ASCII text the automaton can scan as it is: no whitespace to fold
/// (runs of spaces, tabs, line breaks).
fn plain_ascii(text: &str) -> bool {
    text.is_ascii() && !text.contains("  ") && !text.bytes().any(|b| b.is_ascii_whitespace() && b != b' ')
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
        let automaton = (!texts.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .ascii_case_insensitive(true)
                .build(&texts)
                .expect("identifiers compile")
        });
        ObjectorNames {
            automaton,
            patterns,
            per_owner: (0..owners).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.automaton.is_none()
    }

    /// Mentions of `owner` replaced so far.
    pub fn mentions_of(&self, owner: u32) -> u64 {
        self.per_owner
            .get(owner as usize)
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }

    /// Replaces every mention of an objector in `text`; borrowed when there
    /// is none.
    pub fn redact<'t>(&self, text: &'t str, counts: &mut MentionCounts) -> Cow<'t, str> {
        let Some(ac) = &self.automaton else {
            return Cow::Borrowed(text);
        };
        if plain_ascii(text) {
            // Folding an ASCII text is lowercasing it, which the automaton
            // does itself: scan the text as it is.
            return self.replace(ac, text, text, None, counts);
        }
        let nfc: Cow<'t, str> = match unicode_normalization::is_nfc_quick(text.chars()) {
            unicode_normalization::IsNormalized::Yes => Cow::Borrowed(text),
            _ => Cow::Owned(text.nfc().collect()),
        };
        let (folded, from) = fold(&nfc);
        match self.replace(ac, &nfc, &folded, Some(&from), counts) {
            Cow::Owned(s) => Cow::Owned(s),
            // Nothing replaced: the text as it came (not its NFC form).
            Cow::Borrowed(_) => Cow::Borrowed(text),
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
            let (kind, owners) = &self.patterns[m.pattern().as_usize()];
            let (mut start, end) = (at(m.start()), at(m.end()));
            // "@handle" goes as a whole.
            if *kind == IdKind::Handle && original[..start].ends_with('@') {
                start -= 1;
            }
            if start < last {
                continue;
            }
            let out = out.get_or_insert_with(|| String::with_capacity(original.len()));
            out.push_str(&original[last..start]);
            out.push_str(kind.placeholder());
            last = end;
            counts.count(*kind);
            for &owner in owners {
                if let Some(n) = self.per_owner.get(owner as usize) {
                    n.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        match out {
            None => Cow::Borrowed(original),
            Some(mut out) => {
                out.push_str(&original[last..]);
                Cow::Owned(out)
            }
        }
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
        assert_eq!(n.mentions_of(0), 4);
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
}
