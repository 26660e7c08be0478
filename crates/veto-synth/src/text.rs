//! German-language posts with personal data scattered in, the way real
//! platform text carries it: emails, phone numbers, IBANs, @mentions.

use rand::Rng;
use rand::seq::IndexedRandom;

pub const FIRST_NAMES: &[&str] = &[
    "Anna",
    "Lena",
    "Mia",
    "Emma",
    "Sophie",
    "Hannah",
    "Lea",
    "Marie",
    "Laura",
    "Julia",
    "Sarah",
    "Katharina",
    "Jonas",
    "Leon",
    "Lukas",
    "Felix",
    "Paul",
    "Maximilian",
    "Elias",
    "Noah",
    "Tim",
    "Jan",
    "Moritz",
    "Niklas",
    "Fatma",
    "Mehmet",
    "Aylin",
    "Can",
    "Olga",
    "Piotr",
    "Zofia",
    "Giulia",
    "Luca",
    "Chloé",
    "Lucas",
    "Inès",
];
pub const LAST_NAMES: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Yılmaz",
    "Kaya",
    "Nowak",
    "Kowalski",
    "Rossi",
    "Bianchi",
    "Martin",
    "Bernard",
    "Jansen",
    "de Vries",
];

const OPENERS: &[&str] = &[
    "Heute war ein richtig schöner Tag",
    "Endlich Wochenende",
    "Was für ein Spiel gestern",
    "Kann mir jemand helfen",
    "Frisch gebackener Apfelkuchen",
    "Urlaub an der Ostsee",
    "Neues Fahrrad, neues Glück",
    "Der Zug hatte mal wieder Verspätung",
    "Wir suchen eine Wohnung in Leipzig",
    "Konzert im Stadtpark",
    "Erster Schnee in München",
    "Omas Rezept für Rouladen",
    "Die Baustelle vor dem Haus nervt",
    "Flohmarkt am Samstag",
    "Unser Hund hat Geburtstag",
    "Meine Masterarbeit ist fertig",
];
const MIDDLES: &[&str] = &[
    "und ich bin einfach nur dankbar",
    "aber das Wetter hätte besser sein können",
    "mit der ganzen Familie",
    "und danach noch Eis essen",
    "wer hat Tipps",
    "ich freue mich riesig",
    "leider ohne Fotos",
    "ganz spontan",
    "nach drei Jahren Planung",
    "trotz Regen",
    "mit den Kollegen aus dem Büro",
    "und morgen geht es weiter",
];
const CLOSERS: &[&str] = &[
    "!",
    ".",
    " 😊",
    " 🙈",
    "?!",
    " #sonntag",
    " #familie",
    " #berlin",
    "...",
];
const EMAIL_DOMAINS: &[&str] = &[
    "example.de",
    "mail.example",
    "web.example.com",
    "posteo.example",
    "gmx.example.net",
];

/// An IBAN with correct check digits (valid mod 97) for a random German BBAN.
pub fn valid_iban(rng: &mut impl Rng) -> String {
    let bban: String = (0..18).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect();
    for check in 2..=98 {
        let candidate = format!("DE{check:02}{bban}");
        if veto_core::redact::iban_is_valid(&candidate) {
            return candidate;
        }
    }
    unreachable!("two check digits make every BBAN valid")
}

fn spaced(iban: &str) -> String {
    iban.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn phone(rng: &mut impl Rng) -> String {
    match rng.random_range(0..4) {
        0 => format!(
            "0{} {}",
            rng.random_range(151..180),
            rng.random_range(1_000_000..9_999_999)
        ),
        1 => format!(
            "+49 {} {}",
            rng.random_range(30..90),
            rng.random_range(1_000_000..9_999_999)
        ),
        2 => format!("(0{}) {}", rng.random_range(30..90), rng.random_range(100_000..999_999)),
        _ => format!(
            "0{}-{}",
            rng.random_range(151..180),
            rng.random_range(1_000_000..9_999_999)
        ),
    }
}

/// A post or comment; `handles` are other people's usernames to mention.
pub fn post(rng: &mut impl Rng, handles: &[String]) -> String {
    let mut s = format!(
        "{} {}{}",
        OPENERS.choose(rng).expect("non-empty"),
        MIDDLES.choose(rng).expect("non-empty"),
        CLOSERS.choose(rng).expect("non-empty")
    );
    if rng.random_bool(0.15)
        && let Some(h) = handles.choose(rng)
    {
        s.push_str(&format!(" Danke @{h}!"));
    }
    if rng.random_bool(0.08) {
        let first = FIRST_NAMES.choose(rng).expect("non-empty").to_lowercase();
        let domain = EMAIL_DOMAINS.choose(rng).expect("non-empty");
        s.push_str(&format!(" Schreibt mir: {first}.{}@{domain}", rng.random_range(1..999)));
    }
    if rng.random_bool(0.05) {
        s.push_str(&format!(" Ruft an unter {}", phone(rng)));
    }
    if rng.random_bool(0.03) {
        let iban = valid_iban(rng);
        let iban = if rng.random_bool(0.5) { spaced(&iban) } else { iban };
        s.push_str(&format!(" Spenden bitte an IBAN {iban}"));
    }
    if rng.random_bool(0.01) {
        // A number that looks like an IBAN but fails the check: must stay.
        s.push_str(" Referenz DE00 1234 5678 9012 3456 78");
    }
    s
}

/// A question to the platform's AI assistant.
pub fn assistant_chat(rng: &mut impl Rng) -> String {
    const ASKS: &[&str] = &[
        "Wie koche ich Spätzle ohne Spätzlepresse?",
        "Schreib mir ein Gedicht über den Herbst.",
        "Was bedeutet Widerspruch nach Art. 21 DSGVO?",
        "Plane eine Radtour von Köln nach Bonn.",
        "Erklär mir die Steuererklärung in einfachen Worten.",
        "Welche Pflanzen vertragen Schatten?",
    ];
    ASKS.choose(rng).expect("non-empty").to_string()
}
