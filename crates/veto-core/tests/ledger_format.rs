//! Ledger format 2 (RFC 8785) and strict parsing, checked against oracles
//! the code under test did not produce: an export and a receipt written by
//! veto before format 2 (tests/fixtures), and JCS bytes written out by hand.

use ed25519_dalek::{Signature, SigningKey, Verifier};
use serde_json::json;
use sha2::{Digest, Sha256};
use veto_core::canonical::strict::StrictError;
use veto_core::ledger::{self, Entry, ExportLine, Format, GENESIS_PREV, Head, parse_export_line};
use veto_core::receipt::{LEGACY_RECEIPT_FORMAT, RECEIPT_FORMAT, Receipt};

const FORMAT_1_EXPORT: &str = include_str!("fixtures/ledger-format1.jsonl");
const FORMAT_1_RECEIPT: &str = include_str!("fixtures/receipt-format1.json");
/// The genesis key of the fixtures: the public key of the seed [1; 32].
const FIXTURE_GENESIS: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

fn parse(text: &str) -> Result<(Vec<Entry>, Head), StrictError> {
    let mut entries = Vec::new();
    let mut head = None;
    for line in text.lines() {
        match parse_export_line(line)? {
            ExportLine::Entry(e) => entries.push(e),
            ExportLine::Head(h) => head = Some(h),
        }
    }
    Ok((entries, head.expect("a head line")))
}

/// The export with line `n` (0-based) replaced.
fn with_line(text: &str, n: usize, line: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| if i == n { line } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_format_1_export_written_before_jcs_still_verifies_and_reads_back_byte_for_byte() {
    let (entries, head) = parse(FORMAT_1_EXPORT).unwrap();
    assert!(entries.iter().all(|e| e.format == Format::Legacy));
    let key = ledger::verify(&entries, &head, Some(FIXTURE_GENESIS)).unwrap();
    assert_eq!(key, head.public_key, "the head is signed by the rotated key");
    let mut again: String = entries.iter().map(|e| e.to_line() + "\n").collect();
    again.push_str(&(ledger::head_line(&head) + "\n"));
    assert_eq!(again, FORMAT_1_EXPORT);
}

#[test]
fn a_format_2_entry_hashes_the_rfc_8785_form_of_its_body() {
    let e = Entry::new(
        0,
        "ledger_created",
        "2025-05-01T00:00:00Z",
        json!({"public_key": "ab"}),
        GENESIS_PREV,
    );
    assert_eq!(e.format, Format::Jcs);
    // Written out by hand: keys in UTF-16 order, no whitespace, "format": 2 included.
    let body = format!(
        r#"{{"at":"2025-05-01T00:00:00Z","format":2,"kind":"ledger_created","payload":{{"public_key":"ab"}},"prev":"{GENESIS_PREV}","seq":0}}"#
    );
    assert_eq!(e.hash, hex::encode(Sha256::digest(body.as_bytes())));
    // The same digest, computed once with Python's hashlib over these bytes.
    assert_eq!(
        e.hash,
        "0d8104f1e71961242bf381a1bceec6826bfde90c09008aad657b4d39f72103d6"
    );
    let line = format!(
        r#"{{"at":"2025-05-01T00:00:00Z","format":2,"hash":"{}","kind":"ledger_created","payload":{{"public_key":"ab"}},"prev":"{GENESIS_PREV}","seq":0}}"#,
        e.hash
    );
    assert_eq!(e.to_line(), line);
    assert_eq!(parse_export_line(&line).unwrap(), ExportLine::Entry(e));
}

#[test]
fn a_ledger_begun_in_format_1_goes_on_in_format_2_but_never_back() {
    let (mut entries, _) = parse(FORMAT_1_EXPORT).unwrap();
    let rotated = SigningKey::from_bytes(&[2; 32]);
    let last = entries.last().unwrap().clone();
    let payload = json!({"objection_id": "obj-9", "scope": "all"});
    entries.push(Entry::new(
        last.seq + 1,
        "objection_filed",
        "2025-07-01T00:00:00Z",
        payload.clone(),
        &last.hash,
    ));
    let tip = entries.last().unwrap();
    let head = ledger::sign_head(&rotated, tip.seq, &tip.hash);
    assert!(ledger::verify(&entries, &head, Some(FIXTURE_GENESIS)).is_ok());

    // A format-1 entry after it is refused, though its hash is right.
    let tip = entries.last().unwrap().clone();
    let old_style = Entry::in_format(
        Format::Legacy,
        tip.seq + 1,
        "objection_filed",
        "2025-07-02T00:00:00Z",
        payload,
        &tip.hash,
    );
    entries.push(old_style);
    let head = ledger::sign_head(&rotated, tip.seq + 1, &entries.last().unwrap().hash);
    assert_eq!(
        ledger::verify(&entries, &head, Some(FIXTURE_GENESIS)),
        Err(ledger::ChainError::Format { seq: tip.seq + 1 })
    );
}

#[test]
fn an_entry_with_an_extra_field_is_refused() {
    let line = FORMAT_1_EXPORT.lines().nth(1).unwrap();
    let extra = line.replacen("{\"seq\"", "{\"note\":\"harmless?\",\"seq\"", 1);
    // Before: the reader ignored the field, and the fields it knew still
    // hashed right, so `veto ledger verify` said ok.
    let mut lax: serde_json::Value = serde_json::from_str(&extra).unwrap();
    lax.as_object_mut().unwrap().remove("note");
    let lax: Entry = serde_json::from_value(lax).unwrap();
    assert_eq!(lax.expected_hash(), lax.hash);
    let e = parse_export_line(&extra).unwrap_err();
    assert!(e.to_string().contains("unknown field `note`"), "{e}");
    // The export with that line does not verify.
    assert!(parse(&with_line(FORMAT_1_EXPORT, 1, &extra)).is_err());
}

#[test]
fn a_duplicated_payload_key_whose_first_copy_was_altered_is_refused() {
    let line = FORMAT_1_EXPORT.lines().nth(1).unwrap();
    let (before, after) = line.split_once(",\"payload\":").unwrap();
    let altered = r#"{"channel":"portal","filed_at":"2025-05-02T09:59:00.000000Z","objection_id":"obj-1","person_ref":"00112233445566778899aabbccddeeff","scope":"instagram"}"#;
    let doubled = format!("{before},\"payload\":{altered},\"payload\":{after}");
    // Before: serde_json kept the last copy, which still hashes; a reader
    // that keeps the first sees scope instagram.
    let lax: Entry = serde_json::from_value(serde_json::from_str(&doubled).unwrap()).unwrap();
    assert_eq!(lax.expected_hash(), lax.hash);
    let e = parse_export_line(&doubled).unwrap_err();
    assert!(e.to_string().contains("duplicate key \"payload\""), "{e}");
    // A duplicate deeper down is refused too.
    let deep = line.replacen(
        "{\"channel\":\"portal\"",
        "{\"channel\":\"letter\",\"channel\":\"portal\"",
        1,
    );
    assert!(
        parse_export_line(&deep)
            .unwrap_err()
            .to_string()
            .contains("duplicate key \"channel\"")
    );
}

#[test]
fn an_entry_in_another_spelling_is_refused() {
    let (entries, _) = parse(FORMAT_1_EXPORT).unwrap();
    let modern = Entry::new(
        6,
        "objection_filed",
        "2025-07-01T00:00:00Z",
        json!({"scope": "all"}),
        &entries[5].hash,
    );
    let line = modern.to_line();
    assert!(parse_export_line(&line).is_ok());
    for variant in [
        line.replacen(':', ": ", 1),
        line.replacen("\"scope\"", "\"\\u0073cope\"", 1),
        line.replacen("\"seq\":6", "\"seq\":6.0", 1),
        // Format 1 is never spelled out: an entry that says so was not written by veto.
        entries[1].to_line().replacen("{\"seq\"", "{\"format\":1,\"seq\"", 1),
        // Nor is an unknown format read.
        line.replacen("\"format\":2", "\"format\":3", 1),
    ] {
        assert!(parse_export_line(&variant).is_err(), "{variant}");
    }
    // The head line is strict as well.
    let head = FORMAT_1_EXPORT.lines().last().unwrap();
    assert!(parse_export_line(head).is_ok());
    assert!(parse_export_line(&head.replacen("\"seq\"", "\"extra\":1,\"seq\"", 1)).is_err());
}

#[test]
fn a_receipt_issued_before_jcs_still_verifies_and_one_with_an_added_field_does_not() {
    let receipt = Receipt::from_json(FORMAT_1_RECEIPT).unwrap();
    assert_eq!(receipt.format, LEGACY_RECEIPT_FORMAT);
    assert_eq!(receipt.verify(Some(FIXTURE_GENESIS)), Ok(()));

    let added = FORMAT_1_RECEIPT.replacen("{\n", "{\n  \"note\": \"approved by the DPO\",\n", 1);
    // Before: the field was ignored and the receipt reported genuine; the
    // fields it signs still verify.
    let mut lax: serde_json::Value = serde_json::from_str(&added).unwrap();
    lax.as_object_mut().unwrap().remove("note");
    let lax: Receipt = serde_json::from_value(lax).unwrap();
    assert_eq!(lax.verify(Some(FIXTURE_GENESIS)), Ok(()));
    let e = Receipt::from_json(&added).unwrap_err();
    assert!(e.to_string().contains("unknown field `note`"), "{e}");
    // A dropped `withdrawn_at` reads as null but is not what was signed.
    let dropped = FORMAT_1_RECEIPT.replacen("  \"withdrawn_at\": null,\n", "", 1);
    assert!(matches!(
        Receipt::from_json(&dropped),
        Err(StrictError::NonCanonical(_))
    ));
    let doubled = FORMAT_1_RECEIPT.replacen(
        "  \"scope\": \"all\",\n",
        "  \"scope\": \"facebook\",\n  \"scope\": \"all\",\n",
        1,
    );
    assert!(Receipt::from_json(&doubled).is_err());
}

#[test]
fn a_new_receipt_is_signed_over_the_rfc_8785_form_of_its_fields() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let public = hex::encode(key.verifying_key().as_bytes());
    let receipt = Receipt {
        format: String::new(),
        event: "objection_filed".into(),
        objection_id: "obj-1".into(),
        person_id: "p1".into(),
        scope: "all".into(),
        filed_at: "2025-05-26T21:59:59Z".into(),
        filed_at_local: "2025-05-26T23:59:59+02:00".into(),
        withdrawn_at: None,
        policy: "meta-2025".into(),
        before_deadline: true,
        public_key: String::new(),
        signature: String::new(),
    }
    .sign(&key);
    assert_eq!(receipt.format, RECEIPT_FORMAT);
    let message = format!(
        r#"{{"before_deadline":true,"event":"objection_filed","filed_at":"2025-05-26T21:59:59Z","filed_at_local":"2025-05-26T23:59:59+02:00","format":"veto-receipt/2","objection_id":"obj-1","person_id":"p1","policy":"meta-2025","public_key":"{public}","scope":"all","withdrawn_at":null}}"#
    );
    let signature: [u8; 64] = hex::decode(&receipt.signature).unwrap().try_into().unwrap();
    key.verifying_key()
        .verify(message.as_bytes(), &Signature::from_bytes(&signature))
        .expect("signed over exactly these bytes");
    let text = serde_json::to_string_pretty(&receipt).unwrap();
    assert_eq!(Receipt::from_json(&text).unwrap().verify(Some(&public)), Ok(()));
}
