//! Personal data in the writings people use, and numbers that are not
//! personal data, against the redactor. The examples are written out by
//! hand (the oracle is this list, not the redactor's patterns): each PII
//! example must vanish behind its placeholder inside a German sentence, and
//! each harmless text must come back unchanged.

use veto_core::policy::RedactionSwitches;
use veto_core::redact::{RedactionCounts, Redactor};

const ALL_ON: RedactionSwitches = RedactionSwitches {
    emails: true,
    phones: true,
    ibans: true,
    mentions: true,
    cards: true,
    tax_ids: true,
};

fn redact(text: &str) -> String {
    Redactor::new(ALL_ON)
        .redact(text, &mut RedactionCounts::default())
        .into_owned()
}

fn assert_gone(kind: &str, placeholder: &str, examples: &[&str]) {
    let mut leaked = Vec::new();
    // Followed by punctuation, and by words (which an IBAN in any case
    // must not swallow).
    let sentences = examples.iter().flat_map(|e| {
        [
            (e, format!("Meldet euch gern: {e} – bis bald!")),
            (e, format!("Konto {e} Bis bald ok")),
        ]
    });
    for (example, text) in sentences {
        let out = redact(&text);
        if out.contains(example) || !out.contains(placeholder) {
            leaked.push(format!("{example:?} -> {out:?}"));
        }
    }
    assert!(leaked.is_empty(), "{kind} not redacted:\n{}", leaked.join("\n"));
}

#[test]
fn phone_numbers_in_national_and_international_writings() {
    assert_gone(
        "phone",
        "[PHONE]",
        &[
            // Germany
            "030 12345678",
            "+49 30 12345678",
            "0171 2345678",
            "(0221) 123456",
            "0049 89 1234567",
            "+49 (0) 40 1234567",
            // Austria, Switzerland
            "+43 1 5861234",
            "0664 1234567",
            "+41 44 668 18 00",
            "044 668 18 00",
            // France, Belgium, Netherlands, Luxembourg
            "01 23 45 67 89",
            "06.12.34.56.78",
            "+33 6 12 34 56 78",
            "+32 2 555 12 12",
            "06-12345678",
            "+31 20 123 4567",
            "+352 26 12 34 56",
            // Italy, Spain, Portugal
            "+39 06 6982 1234",
            "02 1234 5678",
            "+34 912 345 678",
            "+351 21 123 4567",
            // Nordics, Poland, Czechia, Ireland
            "+46 8 123 456 78",
            "+45 32 12 34 56",
            "+358 9 1234 5678",
            "+48 22 123 45 67",
            "+420 212 345 678",
            "+353 1 234 5678",
            // United Kingdom
            "020 7946 0958",
            "07700 900123",
            "+44 20 7946 0958",
            // US / Canada
            "+1 (555) 123-4567",
            "+1 555 123 4567",
            "(555) 123-4567",
            "555-123-4567",
            "416.555.0199",
            // Hungary, Portugal as people write them
            "06-22/362 5826",
            "(06)12/569-0858",
            "(351) 923 324 935",
            "06-8/587 8953",
            "07/ 855 61 25",
            // Bare, without + or trunk 0: DK, ES, PT, PL, GR, IT mobiles, HU, US
            "63180741",
            "8335 0536",
            "923840555",
            "787 824 504",
            "32 672 70 45",
            "2210 983 534",
            "3779168369",
            "(88)/023-7222",
            "13/716 8411",
            "920 748 2576",
            "1 (651) 121-3751",
            // With an extension
            "905-513-3472x923",
            "632-821-1881 x688",
            "001-653-575-9186x3724",
        ],
    );
}

#[test]
fn a_phone_inside_a_longer_run_of_numbers_is_found() {
    assert_eq!(redact("Nr. 12 0171 2345678 bitte"), "Nr. 12 [PHONE] bitte");
    // A word that merely begins like a unit ("eure", "Europa") is no unit.
    assert_eq!(
        redact("Schreibt an 612 345 678 eure Fragen"),
        "Schreibt an [PHONE] eure Fragen"
    );
    assert_eq!(redact("Aus 612 345 678 Europa"), "Aus [PHONE] Europa");
}

#[test]
fn ibans_in_any_case_and_grouping() {
    assert_gone(
        "IBAN",
        "[IBAN]",
        &[
            "DE89 3704 0044 0532 0130 00",
            "DE89370400440532013000",
            "de89 3704 0044 0532 0130 00",
            "de89370400440532013000",
            "De89 3704 0044 0532 0130 00",
            "AT61 1904 3002 3457 3201",
            "GB82 WEST 1234 5698 7654 32",
            "gb82west12345698765432",
            "FR14 2004 1010 0505 0001 3M02 606",
            "NL91 ABNA 0417 1643 00",
        ],
    );
}

#[test]
fn emails_plain_tagged_on_subdomains_international_and_disguised() {
    assert_gone(
        "email",
        "[EMAIL]",
        &[
            "anna.schmidt@example.de",
            "anna+newsletter@example.de",
            "j.mueller@mail.uni-koeln.de",
            "info@müller-bäckerei.de",
            "anna [at] example [dot] de",
            "anna(at)example(dot)de",
            "anna at example dot de",
            "anna[at]mail.example.de",
            "ANNA [AT] EXAMPLE [DOT] DE",
        ],
    );
}

#[test]
fn card_numbers_and_german_tax_ids() {
    assert_gone(
        "card",
        "[CARD]",
        &[
            "4111 1111 1111 1111",
            "5555-5555-5555-4444",
            "378282246310005",
            "4111111111111111",
            // Maestro: 12 digits
            "501858551036",
            "5018 5855 1036",
        ],
    );
    assert_gone("tax id", "[TAX_ID]", &["86095742719", "86 095 742 719"]);
}

#[test]
fn harmless_numbers_stay() {
    let mut changed = Vec::new();
    for text in [
        "Das Ticket kostet 1.299,00 € oder 49,99 EUR.",
        "Preis: 12,50 € statt 19,90 €",
        "Am 27.05.2025 um 10:30 Uhr geht es los.",
        "Termin: 2025-05-27T10:30:00",
        "Die Quote lag bei 87,5 % und später bei 12 %.",
        "Update auf Version 2.14.3 oder v1.0.12 bitte.",
        "ISBN 978-3-16-148410-0 und ISBN 3-499-13599-X",
        "ISBN 978-0-03-832875-8, ISBN-13: 978-3-16-148410-0",
        "Endstand 3:1, zur Pause 1:0.",
        "Die Stadt hat 1.234.567 Einwohner, also 1 234 567.",
        "Seit 1998 dabei, Top 10 von 2024.",
        "Zimmer 0815, Haus 12a, PLZ 50667 Köln.",
        "Artikelnummer 4006381333931 im Regal 12.",
        "Referenz DE00 1234 5678 9012 3456 78",
        "Die Karte 4111 1111 1111 1112 ist ungültig.",
        "Um 23:59:59 war Schluss, 100 km weiter.",
        "Wir schauen uns das at the end of the day an.",
        // Bare numbers that are not phone numbers
        "Saison 2024/2025 und 1990-2020, geboren 1985 2001.",
        "Stichtag 27-05-2025, Frist 2025/05/27, Datei 20250527.",
        "Die Stadt hat 83 200 000 Einwohner und 12 345 678 Gäste.",
        "Umsatz 12345678,90 € bzw. 503 452 783 Euro, 250000000 Aufrufe.",
    ] {
        let out = redact(text);
        if out != text {
            changed.push(format!("{text:?} -> {out:?}"));
        }
    }
    assert!(changed.is_empty(), "harmless text changed:\n{}", changed.join("\n"));
}

#[test]
fn a_phone_after_an_iban_or_inside_a_failed_candidate_is_still_found() {
    let out = redact("IBAN DE89 3704 0044 0532 0130 00 oder 0171 2345678 anrufen");
    assert_eq!(out, "IBAN [IBAN] oder [PHONE] anrufen");
    let out = redact("Konto DE88 3704 0044 oder 0171 2345678");
    assert!(out.ends_with("oder [PHONE]"), "{out}");
}
