//! Redaction of personal data in text that goes into a training shard:
//! email addresses (also plus-addressed, on subdomains, with IDN domains,
//! and written as `name [at] domain [dot] de`), phone numbers (international,
//! and the national writings of Germany, the EU, CH, GB and US/CA), IBANs
//! with a valid mod-97 check in any case and grouping, payment card numbers
//! passing Luhn, German tax ids passing their check digit, and @mentions
//! become fixed placeholders.
//!
//! All kinds are found in one pass over the text with one compiled
//! alternation, leftmost-first, so an email's `@` is never mistaken for a
//! mention and each byte is examined once. The alternation has no capture
//! groups, so the regex crate can run it on its lazy DFA; which kind matched
//! follows from the match itself: anchored patterns and check digits
//! classify each candidate (see [`Redactor::redact`]). Word boundaries
//! are ASCII (`(?-u:\b)`): Unicode ones would force the slow engines on any
//! non-ASCII text, and an ASCII boundary also splits a number from an
//! adjacent umlaut, so it redacts at least as much.

mod checks;
mod phones;

use regex::Regex;
use serde::{Deserialize, Serialize};

pub use checks::{card_is_valid, steuer_id_is_valid};

use crate::policy::RedactionSwitches;

pub const EMAIL_PLACEHOLDER: &str = "[EMAIL]";
pub const PHONE_PLACEHOLDER: &str = "[PHONE]";
pub const IBAN_PLACEHOLDER: &str = "[IBAN]";
pub const MENTION_PLACEHOLDER: &str = "[MENTION]";
pub const CARD_PLACEHOLDER: &str = "[CARD]";
pub const TAX_ID_PLACEHOLDER: &str = "[TAX_ID]";

/// The email pattern on its own, for checking output (tests and audits).
/// Domains may be internationalised (any non-ASCII letter).
pub const EMAIL_PATTERN: &str = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-\x{80}-\x{10FFFF}]+(?:\.[A-Za-z0-9\-\x{80}-\x{10FFFF}]+)*\.[A-Za-z\x{80}-\x{10FFFF}]{2,}";
/// An address written to dodge harvesters: `name [at] domain [dot] de`,
/// `name (at) domain (dot) de`, `name at domain dot de`, mixed with `.`.
const EMAIL_OBFUSCATED: &str = r"[A-Za-z0-9._%+\-]+(?:[ ]?[\[({](?i:at)[\])}][ ]?| (?i:at) )[A-Za-z0-9\-]+(?:(?:[ ]?[\[({](?i:dot)[\])}][ ]?| (?i:dot) |\.)[A-Za-z0-9\-]+)*(?:[ ]?[\[({](?i:dot)[\])}][ ]?| (?i:dot) |\.)[A-Za-z]{2,}(?-u:\b)";
/// The IBAN shape on its own (country, check digits, 11 to 30 characters of
/// BBAN in groups of up to four, optionally separated by single spaces), in
/// either case.
pub const IBAN_PATTERN: &str = r"(?-u:\b)[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{1,4}){3,8}(?-u:\b)";
/// 12 to 19 digits in groups of four (Amex: 4-6-5), spaces or dashes.
const CARD: &str = r"(?-u:\b)(?:[0-9]{4}(?:[ \-]?[0-9]{4}){2,3}(?:[ \-]?[0-9]{1,3})?|3[47][0-9]{2}[ \-]?[0-9]{6}[ \-]?[0-9]{5})(?-u:\b)";
/// Eleven digits, the first not 0: `12345678901`, `12 345 678 901`.
const TAX_ID: &str = r"(?-u:\b)[1-9][0-9](?: ?[0-9]{3}){3}(?-u:\b)";

const PHONE_INTERNATIONAL: &str = r"(?:\+|(?-u:\b)00)[1-9][0-9]{0,2}[ ./\-]?(?:\(0\)[ ]?)?(?:\([0-9]{1,5}\)[ ]?|[0-9]{1,5})(?:[ ./\-]?[0-9]{2,8}){1,4}(?:[ ]?(?:x|ext\.? ?)[0-9]{1,5})?(?-u:\b)";
/// National writings with a trunk 0 (DE, AT, CH, GB, NL, BE, IT, HU, ...),
/// also with a one-digit area code (HU `06-8/587 8953`) or `/ ` (BE).
const PHONE_NATIONAL: &str =
    r"(?:\(0[0-9]{1,5}\)|(?-u:\b)0[0-9]{1,5})(?:/ |[ /\-])?[0-9]{1,9}(?:(?:/ |[ /\-])?[0-9]{1,6}){0,3}(?-u:\b)";
/// A country code in parentheses without `+`: `(351) 923 324 935`.
const PHONE_CC_PARENS: &str = r"\([1-9][0-9]{1,2}\) ?[0-9]{2,3}(?:[ \-][0-9]{2,4}){2,3}(?-u:\b)";
/// An ISBN is kept as it is: matched first so that its digits are not
/// taken for a phone number.
const ISBN: &str = r"(?i:isbn)(?:-1[03])?:? ?[0-9][0-9\- ]{8,16}[0-9Xx](?-u:\b)";
/// French pairs with dots: `01.23.45.67.89`.
const PHONE_PAIRS: &str = r"(?-u:\b)0[1-9](?:\.[0-9]{2}){4}(?-u:\b)";
/// North American: `(555) 123-4567`, `555-123-4567`, `555.123.4567`, with
/// an extension (`x923`, ` ext. 12`) kept with the number.
const PHONE_NANP: &str =
    r"(?:\([2-9][0-9]{2}\) ?|(?-u:\b)[2-9][0-9]{2}[\-.])[0-9]{3}[\-.][0-9]{4}(?:[ ]?(?:x|ext\.? ?)[0-9]{1,5})?(?-u:\b)";
/// Bare numbers, without `+`, `00` or a trunk 0: how people write them
/// where there is no trunk prefix (DK, ES, PT, PL, GR, IT mobiles, US/CA)
/// or leave it out: `914395755`, `787 824 504`, `2930 544219`,
/// `13/716 8411`, `262 721 8591`, and an area code in parentheses
/// (HU `(72)/710-6130`). The shape alone is a weak sign, so
/// [`phones::verdict`] decides: 8 to 12 digits, not a date, a pair of
/// years or a quantity.
const PHONE_BARE: &str = r"(?:\([1-9][0-9]{0,3}\)/?|(?-u:\b)[1-9][0-9]{1,3})(?:[ /\-]?[0-9]{2,6}){1,4}(?:[ ]?(?:x|ext\.? ?)[0-9]{1,5})?(?-u:\b)";
const MENTION: &str = r"@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?";

/// How many of each kind were replaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedactionCounts {
    pub emails: u64,
    pub phones: u64,
    pub ibans: u64,
    pub mentions: u64,
    /// Counted from snapshot format 2 with v1.1 on; absent before.
    #[serde(default)]
    pub cards: u64,
    #[serde(default)]
    pub tax_ids: u64,
}

impl RedactionCounts {
    pub fn add(&mut self, other: &RedactionCounts) {
        self.emails += other.emails;
        self.phones += other.phones;
        self.ibans += other.ibans;
        self.mentions += other.mentions;
        self.cards += other.cards;
        self.tax_ids += other.tax_ids;
    }

    pub fn total(&self) -> u64 {
        self.emails + self.phones + self.ibans + self.mentions + self.cards + self.tax_ids
    }
}

/// A compiled redactor for one set of switches. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Redactor {
    pattern: Regex,
    /// Anchored forms of the branches, to tell a candidate's kind.
    kinds: Kinds,
    switches: RedactionSwitches,
}

#[derive(Clone, Debug)]
struct Kinds {
    obfuscated: Regex,
    card: Regex,
    tax_id: Regex,
    phone: Regex,
}

fn anchored(p: &str) -> Regex {
    Regex::new(&format!("^(?:{p})$")).expect("redaction pattern compiles")
}

impl Redactor {
    pub fn new(switches: RedactionSwitches) -> Redactor {
        // Order matters: leftmost-first alternation prefers the earlier
        // branch at the same start, so an email wins over a mention and an
        // IBAN over the digits inside it.
        // Cards and tax ids before phones: a 16-digit card would otherwise
        // be taken apart as phone numbers.
        let phones =
            format!("{PHONE_INTERNATIONAL}|{PHONE_NATIONAL}|{PHONE_PAIRS}|{PHONE_NANP}|{PHONE_CC_PARENS}|{PHONE_BARE}");
        let pattern =
            format!("{ISBN}|{EMAIL_PATTERN}|{EMAIL_OBFUSCATED}|{IBAN_PATTERN}|{CARD}|{TAX_ID}|{phones}|{MENTION}");
        Redactor {
            pattern: Regex::new(&pattern).expect("redaction pattern compiles"),
            kinds: Kinds {
                obfuscated: anchored(EMAIL_OBFUSCATED),
                card: anchored(CARD),
                tax_id: anchored(TAX_ID),
                phone: anchored(&phones),
            },
            switches,
        }
    }

    /// Redacts `text`, adding what it replaced to `counts`. Returns the text
    /// unchanged (borrowed) when nothing is replaced.
    pub fn redact<'t>(&self, text: &'t str, counts: &mut RedactionCounts) -> std::borrow::Cow<'t, str> {
        let s = &self.switches;
        if !(s.emails || s.phones || s.ibans || s.mentions || s.cards || s.tax_ids) {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out: Option<String> = None;
        let mut last = 0;
        let mut at = 0;
        while let Some(whole) = self.pattern.find_at(text, at) {
            match self.classify(whole.as_str(), &text[whole.end()..], counts) {
                Verdict::Replace(placeholder, len) => {
                    let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
                    buf.push_str(&text[last..whole.start()]);
                    buf.push_str(placeholder);
                    last = whole.start() + len;
                    // What followed a shorter replacement (the words after an
                    // IBAN) is searched again: a phone number may be among them.
                    at = last;
                }
                Verdict::Keep => at = whole.end(),
                Verdict::ResumeAt(n) => at = whole.start() + n,
                // Not what it looked like as a whole: something inside it
                // may still be (an IBAN-shaped run hiding a phone number).
                Verdict::Retry => {
                    let next = text[whole.start()..].chars().next().map_or(1, char::len_utf8);
                    at = whole.start() + next;
                }
            }
            if at >= text.len() {
                break;
            }
        }
        match out {
            None => std::borrow::Cow::Borrowed(text),
            Some(mut buf) => {
                buf.push_str(&text[last..]);
                std::borrow::Cow::Owned(buf)
            }
        }
    }
}

impl Redactor {
    /// What to do with one candidate (counting what is replaced).
    /// `after` is the text that follows the candidate.
    fn classify(&self, m: &str, after: &str, counts: &mut RedactionCounts) -> Verdict {
        let mut len = m.len();
        if m.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("isbn")) {
            return Verdict::Keep;
        }
        let s = &self.switches;
        let (count, placeholder): (&mut u64, &'static str) = if m.starts_with('@') {
            if !s.mentions {
                return Verdict::Keep;
            }
            (&mut counts.mentions, MENTION_PLACEHOLDER)
        } else if m.contains('@') || self.kinds.obfuscated.is_match(m) {
            if !s.emails {
                return Verdict::Keep;
            }
            (&mut counts.emails, EMAIL_PLACEHOLDER)
        } else if m.starts_with(|c: char| c.is_ascii_alphabetic()) {
            // In either case, the words after an IBAN look like its last
            // groups ("DE89... Bis bald"): the longest prefix that checks.
            if !s.ibans {
                return Verdict::Keep;
            }
            match iban_prefix(m) {
                Some(n) => len = n,
                None => return Verdict::Retry,
            }
            (&mut counts.ibans, IBAN_PLACEHOLDER)
        } else if self.kinds.card.is_match(m) && card_is_valid(m) {
            if !s.cards {
                return Verdict::Keep;
            }
            (&mut counts.cards, CARD_PLACEHOLDER)
        } else if self.kinds.tax_id.is_match(m) && steuer_id_is_valid(m) {
            if !s.tax_ids {
                return Verdict::Keep;
            }
            (&mut counts.tax_ids, TAX_ID_PLACEHOLDER)
        } else {
            if !s.phones {
                return Verdict::Keep;
            }
            match phones::verdict(m, after, &self.kinds.phone) {
                phones::Shape::Phone => {}
                phones::Shape::Number => return Verdict::Keep,
                phones::Shape::NotWhole => return Verdict::Retry,
                phones::Shape::ResumeAt(at) => return Verdict::ResumeAt(at),
            }
            (&mut counts.phones, PHONE_PLACEHOLDER)
        };
        *count += 1;
        Verdict::Replace(placeholder, len)
    }
}

/// What [`Redactor::classify`] says of a candidate.
enum Verdict {
    /// Replace its first `len` bytes with the placeholder.
    Replace(&'static str, usize),
    /// Leave it whole (switched off, or an ISBN).
    Keep,
    /// Not personal data as a whole; search again inside it.
    Retry,
    /// Not personal data as a whole; search again from this byte of it.
    ResumeAt(usize),
}

/// The byte length of the longest prefix of `m`, cut at a space, that is a
/// valid IBAN.
fn iban_prefix(m: &str) -> Option<usize> {
    let mut end = m.len();
    loop {
        if iban_is_valid(&m[..end]) {
            return Some(end);
        }
        end = m[..end].rfind(' ')?;
    }
}

/// ISO 13616 check: move the first four characters to the end, map letters to
/// 10..35, and the number must be 1 modulo 97. Spaces are ignored.
pub fn iban_is_valid(candidate: &str) -> bool {
    let compact: Vec<u8> = candidate.bytes().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len()) || !compact.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let mut remainder: u32 = 0;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let value = if b.is_ascii_digit() {
            (b - b'0') as u32
        } else {
            (b.to_ascii_uppercase() - b'A') as u32 + 10
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL_ON: RedactionSwitches = RedactionSwitches {
        emails: true,
        phones: true,
        ibans: true,
        mentions: true,
        cards: true,
        tax_ids: true,
    };

    fn redact(text: &str) -> (String, RedactionCounts) {
        let mut counts = RedactionCounts::default();
        let out = Redactor::new(ALL_ON).redact(text, &mut counts).into_owned();
        (out, counts)
    }

    #[test]
    fn replaces_each_kind_with_its_placeholder() {
        let (out, c) = redact(
            "Schreib an anna.schmidt@example.de oder ruf 030 12345678 an, \
             +49 171 2345678 geht auch. IBAN DE89 3704 0044 0532 0130 00, danke @max_mustermann!",
        );
        assert_eq!(
            out,
            "Schreib an [EMAIL] oder ruf [PHONE] an, [PHONE] geht auch. IBAN [IBAN], danke [MENTION]!"
        );
        assert_eq!(
            c,
            RedactionCounts {
                emails: 1,
                phones: 2,
                ibans: 1,
                mentions: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn german_phone_formats() {
        for phone in [
            "0171-2345678",
            "(030) 1234567",
            "0049 30 1234567",
            "+49 (0) 30 1234567",
            "089/12345678",
            "0171 234 56 78",
        ] {
            let (out, c) = redact(&format!("Tel. {phone} bitte"));
            assert_eq!(out, "Tel. [PHONE] bitte", "{phone}");
            assert_eq!(c.phones, 1, "{phone}");
        }
    }

    #[test]
    fn short_numbers_dates_and_years_stay() {
        for text in [
            "Am 27.05.2025 um 10 Uhr",
            "Seit 1998 dabei",
            "Top 10 von 2024",
            "Zimmer 0815",
        ] {
            assert_eq!(redact(text).0, text);
        }
    }

    #[test]
    fn a_number_glued_to_an_umlaut_is_still_redacted() {
        // ASCII word boundaries: "ü" does not hide the number next to it.
        let (out, c) = redact("Grüß0171 2345678ü und Müller DE89 3704 0044 0532 0130 00ä");
        assert_eq!(out, "Grüß[PHONE]ü und Müller [IBAN]ä");
        assert_eq!((c.phones, c.ibans), (1, 1));
    }

    #[test]
    fn an_iban_with_a_wrong_check_digit_is_not_an_iban() {
        assert!(iban_is_valid("DE89370400440532013000"));
        assert!(iban_is_valid("GB82 WEST 1234 5698 7654 32"));
        assert!(!iban_is_valid("DE88370400440532013000"));
        let (out, c) = redact("Konto DE88 3704 0044 0532 0130 00");
        assert_eq!(c.ibans, 0);
        assert!(out.contains("DE88 3704"), "{out}");
    }

    #[test]
    fn switched_off_kinds_stay_and_are_not_counted() {
        let switches = RedactionSwitches {
            mentions: false,
            ..ALL_ON
        };
        let mut c = RedactionCounts::default();
        let out = Redactor::new(switches).redact("hallo @anna, mail a@b.de", &mut c);
        assert_eq!(out, "hallo @anna, mail [EMAIL]");
        assert_eq!(
            c,
            RedactionCounts {
                emails: 1,
                ..Default::default()
            }
        );
    }

    fn iban_with_check(country: &str, bban: &str) -> String {
        // Compute the check digits so the IBAN is valid.
        for check in 2..=98 {
            let s = format!("{country}{check:02}{bban}");
            if iban_is_valid(&s) {
                return s;
            }
        }
        unreachable!("some check digits make any BBAN valid")
    }

    proptest! {
        #[test]
        fn no_email_or_valid_iban_survives(
            words in prop::collection::vec("[a-zA-ZäöüßÄÖÜ]{1,10}", 0..12),
            local in "[a-z][a-z0-9._-]{0,12}[a-z0-9]",
            domain in "[a-z][a-z0-9-]{0,10}[a-z0-9]",
            tld in "[a-z]{2,6}",
            bban in "[0-9]{18}",
            spaced in any::<bool>(),
            at in any::<prop::sample::Index>(),
        ) {
            let email = format!("{local}@{domain}.{tld}");
            let mut iban = iban_with_check("DE", &bban);
            if spaced {
                iban = iban.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ");
            }
            let mut parts = words.clone();
            let i = at.index(parts.len() + 1);
            parts.insert(i, format!("{email}, {iban}."));
            let text = parts.join(" ");
            let (out, _) = redact(&text);
            prop_assert!(!Regex::new(EMAIL_PATTERN).unwrap().is_match(&out), "{}", out);
            let ibans = Regex::new(IBAN_PATTERN).unwrap();
            prop_assert!(!ibans.find_iter(&out).any(|m| iban_is_valid(m.as_str())), "{}", out);
            prop_assert!(out.contains(EMAIL_PLACEHOLDER) && out.contains(IBAN_PLACEHOLDER), "{}", out);
        }
    }
}
