//! Redaction of personal data in text that goes into a training shard:
//! email addresses, phone numbers (German and international formats), IBANs
//! with a valid mod-97 check, and @mentions become fixed placeholders.
//!
//! All kinds are found in one pass over the text with one compiled
//! alternation, leftmost-first, so an email's `@` is never mistaken for a
//! mention and each byte is examined once. The alternation has no capture
//! groups, so the regex crate can run it on its lazy DFA; which kind matched
//! follows from the match itself (see [`Redactor::redact`]). Word boundaries
//! are ASCII (`(?-u:\b)`): Unicode ones would force the slow engines on any
//! non-ASCII text, and an ASCII boundary also splits a number from an
//! adjacent umlaut, so it redacts at least as much.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::policy::RedactionSwitches;

pub const EMAIL_PLACEHOLDER: &str = "[EMAIL]";
pub const PHONE_PLACEHOLDER: &str = "[PHONE]";
pub const IBAN_PLACEHOLDER: &str = "[IBAN]";
pub const MENTION_PLACEHOLDER: &str = "[MENTION]";

/// The email pattern on its own, for checking output (tests and audits).
pub const EMAIL_PATTERN: &str = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}";
/// The IBAN shape on its own (country, check digits, 11 to 30 characters of
/// BBAN in groups of up to four, optionally separated by single spaces).
pub const IBAN_PATTERN: &str = r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{1,4}){3,8}(?-u:\b)";

const PHONE_INTERNATIONAL: &str =
    r"(?:\+|(?-u:\b)00)[1-9][0-9]{0,2}[ ./\-]?(?:\(0\)[ ]?)?[0-9]{1,5}(?:[ ./\-]?[0-9]{2,8}){1,4}(?-u:\b)";
const PHONE_GERMAN: &str = r"(?:\(0[0-9]{2,5}\)|(?-u:\b)0[0-9]{2,5})[ /\-]?[0-9]{2,9}(?:[ \-]?[0-9]{1,6}){0,3}(?-u:\b)";
const MENTION: &str = r"@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?";

/// How many of each kind were replaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedactionCounts {
    pub emails: u64,
    pub phones: u64,
    pub ibans: u64,
    pub mentions: u64,
}

impl RedactionCounts {
    pub fn add(&mut self, other: &RedactionCounts) {
        self.emails += other.emails;
        self.phones += other.phones;
        self.ibans += other.ibans;
        self.mentions += other.mentions;
    }

    pub fn total(&self) -> u64 {
        self.emails + self.phones + self.ibans + self.mentions
    }
}

/// A compiled redactor for one set of switches. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Redactor {
    pattern: Regex,
    switches: RedactionSwitches,
}

impl Redactor {
    pub fn new(switches: RedactionSwitches) -> Redactor {
        // Order matters: leftmost-first alternation prefers the earlier
        // branch at the same start, so an email wins over a mention and an
        // IBAN over the digits inside it.
        let pattern = format!("{EMAIL_PATTERN}|{IBAN_PATTERN}|{PHONE_INTERNATIONAL}|{PHONE_GERMAN}|{MENTION}");
        Redactor {
            pattern: Regex::new(&pattern).expect("redaction pattern compiles"),
            switches,
        }
    }

    /// Redacts `text`, adding what it replaced to `counts`. Returns the text
    /// unchanged (borrowed) when nothing is replaced.
    pub fn redact<'t>(&self, text: &'t str, counts: &mut RedactionCounts) -> std::borrow::Cow<'t, str> {
        let s = &self.switches;
        if !(s.emails || s.phones || s.ibans || s.mentions) {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out: Option<String> = None;
        let mut last = 0;
        for whole in self.pattern.find_iter(text) {
            let matched = whole.as_str();
            // The branches' first characters tell them apart: a mention starts
            // with `@`, an email has its `@` later, an IBAN starts with a
            // capital letter and a phone number never does.
            let placeholder = if matched.starts_with('@') {
                self.switches.mentions.then(|| {
                    counts.mentions += 1;
                    MENTION_PLACEHOLDER
                })
            } else if matched.contains('@') {
                self.switches.emails.then(|| {
                    counts.emails += 1;
                    EMAIL_PLACEHOLDER
                })
            } else if matched.starts_with(|c: char| c.is_ascii_uppercase()) {
                (self.switches.ibans && iban_is_valid(matched)).then(|| {
                    counts.ibans += 1;
                    IBAN_PLACEHOLDER
                })
            } else {
                let digits = matched.bytes().filter(u8::is_ascii_digit).count();
                (self.switches.phones && (7..=15).contains(&digits)).then(|| {
                    counts.phones += 1;
                    PHONE_PLACEHOLDER
                })
            };
            if let Some(placeholder) = placeholder {
                let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
                buf.push_str(&text[last..whole.start()]);
                buf.push_str(placeholder);
                last = whole.end();
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
                mentions: 1
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
