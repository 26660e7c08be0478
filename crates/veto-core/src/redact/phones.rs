//! Whether a phone-shaped candidate is a phone number. A number written
//! with `+`, `00` or a trunk 0 is one when its digit count fits. A bare
//! number (no prefix: how Danes, Spaniards, Poles, Greeks and North
//! Americans write theirs) has only its shape, so it is one when it has 8
//! to 12 digits and is not a date, a pair of years, a number grouped in
//! thousands from one or two leading digits, or a quantity (followed by a
//! currency, a unit or a decimal part).
//!
//! libphonenumber (the `phonenumber` crate) was measured for this and does
//! not help: with no region known, every 8- to 10-digit number and 93% of
//! 12-digit ones are valid in at least one of the EU, CH, GB, US and CA
//! (5,000 random numbers), at 0.65 ms a candidate. The rules here are the
//! ones that tell a number from a phone number in German text.

use regex::Regex;

/// What a candidate is.
pub(super) enum Shape {
    Phone,
    /// A number as a whole: leave it and what is inside it.
    Number,
    /// Not a phone as a whole; something inside it may be.
    NotWhole,
    /// Too long as a whole, but a prefixed number starts at this byte.
    ResumeAt(usize),
}

/// Units and currencies after which a number is a quantity (lower case).
/// Short ones must be the whole next word ("eur", not "eure" or "Europa");
/// the longer ones may be inflected ("Einwohnern").
const QUANTITY_WORDS: &[&str] = &[
    "eur", "euro", "euros", "usd", "chf", "mio", "mrd", "km", "kg", "jahre", "tage",
];
const QUANTITY_STEMS: &[&str] = &[
    "dollar",
    "franken",
    "pfund",
    "million",
    "milliard",
    "einwohner",
    "menschen",
    "leute",
    "personen",
    "stück",
    "exemplare",
    "besucher",
    "mitglieder",
    "follower",
    "abonnenten",
    "aufrufe",
    "views",
    "klicks",
    "likes",
    "meter",
    "tonnen",
    "liter",
    "stunden",
    "minuten",
    "sekunden",
    "punkte",
    "stimmen",
    "bytes",
];

pub(super) fn verdict(m: &str, after: &str, phone: &Regex) -> Shape {
    let body = without_extension(m);
    let digits = body.bytes().filter(u8::is_ascii_digit).count();
    let prefixed = m.starts_with('+') || m.starts_with('0') || m.starts_with("(0");
    if prefixed {
        return if (7..=15).contains(&digits) && phone.is_match(m) {
            Shape::Phone
        } else {
            Shape::NotWhole
        };
    }
    if !(8..=12).contains(&digits) {
        // One long run ("Artikelnummer 4006381333931", a card number that
        // fails Luhn) is a number as a whole, but "12 0171 2345678" holds
        // a phone number that starts at its trunk 0.
        return match trunk_group(body) {
            Some(at) => Shape::ResumeAt(at),
            None => Shape::Number,
        };
    }
    if !phone.is_match(m) {
        return Shape::NotWhole;
    }
    let groups: Vec<&str> = body
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    if is_date_or_years(&groups) || is_quantity(after) || in_thousands(body, &groups) {
        return Shape::Number;
    }
    Shape::Phone
}

/// The candidate without an extension (`x923`, `ext. 12`).
fn without_extension(m: &str) -> &str {
    match m.find(['x', 'e']) {
        Some(at) => m[..at].trim_end(),
        None => m,
    }
}

/// The byte offset of the first later group that starts with a 0.
fn trunk_group(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    (1..bytes.len()).find(|&i| bytes[i] == b'0' && !bytes[i - 1].is_ascii_digit())
}

fn number(g: &str) -> u32 {
    g.parse().unwrap_or(u32::MAX)
}

fn is_year(g: &str) -> bool {
    g.len() == 4 && (1900..=2099).contains(&number(g))
}

fn is_day_month(d: &str, m: &str) -> bool {
    d.len() <= 2 && m.len() <= 2 && (1..=31).contains(&number(d)) && (1..=12).contains(&number(m))
}

/// `27-05-2025`, `2025/05/27`, `20250527`, `27052025`, `2024 2025`.
fn is_date_or_years(groups: &[&str]) -> bool {
    match groups {
        [d, m, y] => (is_day_month(d, m) && is_year(y)) || (is_year(d) && is_day_month(y, m)),
        [a, b] => is_year(a) && is_year(b),
        [g] if g.len() == 8 => {
            let (head, tail) = g.split_at(4);
            (is_year(head) && is_day_month(&tail[2..], &tail[..2]))
                || (is_year(tail) && is_day_month(&head[..2], &head[2..]))
        }
        _ => false,
    }
}

/// Followed by a decimal part, a currency or a unit.
fn is_quantity(after: &str) -> bool {
    let b = after.as_bytes();
    if b.len() >= 2 && matches!(b[0], b',' | b'.') && b[1].is_ascii_digit() {
        return true;
    }
    let next = after.strip_prefix(' ').unwrap_or(after);
    if next.starts_with(['€', '$', '£', '%', '‰']) {
        return true;
    }
    let word: String = next
        .chars()
        .take_while(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect();
    QUANTITY_WORDS.contains(&word.as_str()) || QUANTITY_STEMS.iter().any(|q| word.starts_with(q))
}

/// `12 345 678`: groups of three after one or two leading digits, with
/// spaces. (Three leading digits, `503 452 783`, is how Poles and
/// Spaniards write phone numbers; as a quantity it carries a unit.)
fn in_thousands(body: &str, groups: &[&str]) -> bool {
    groups.len() >= 2
        && groups[0].len() <= 2
        && groups[1..].iter().all(|g| g.len() == 3)
        && body.bytes().all(|b| b.is_ascii_digit() || b == b' ')
}
