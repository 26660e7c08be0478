//! Export v1.1 through the whole build: items that tag children or
//! objectors, and items whose creators opted out, stay out for the right
//! reason; a v1.1 export in JSON Lines and Parquet builds the same shards;
//! a bad `usage` or an unknown tagged person is named by row and field.
//! The oracle reads the JSON Lines export with its own code: ages, objections
//! in force and the vocabularies that forbid training are restated here.

mod common;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use common::*;
use serde_json::Value;

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Adult (18) on `day`: from the 18th birthday on, 1 March for 29 February.
fn adult_on(birth: NaiveDate, day: NaiveDate) -> bool {
    let y = birth.year() + 18;
    let birthday = NaiveDate::from_ymd_opt(y, birth.month(), birth.day())
        .unwrap_or_else(|| NaiveDate::from_ymd_opt(y, 3, 1).unwrap());
    day >= birthday
}

/// The generator's values that forbid training (docs/export-format.md).
const FORBIDS: [&str; 4] = ["train-ai=n", "tdm-reservation=1", "notAllowed", "constrained"];
const PICTURES: [&str; 5] = ["photo", "video", "reel", "story", "profile_picture"];

#[test]
fn tagged_children_tagged_objectors_and_opt_outs_stay_out_for_their_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    let objections = generate_v1_1(&data, 600, 5, veto_synth::Format::JsonLines);
    let out = tmp.path().join("snap");
    let req = request(&data, out.clone(), objections.clone());
    let as_of = req.as_of;
    let m = run(req).unwrap().manifest;

    let births: HashMap<String, Option<NaiveDate>> = lines(&data.join("persons.jsonl"))
        .iter()
        .map(|p| {
            let birth = p["birth_date"].as_str().map(|d| d.parse().unwrap());
            (p["person_id"].as_str().unwrap().to_string(), birth)
        })
        .collect();
    let objects = |person: &str, platform: &str| {
        objections.iter().any(|o| {
            let covers = o.scope.as_str() == "all" || o.scope.as_str() == platform;
            o.person_id == person && covers && o.filed_at <= as_of && o.withdrawn_at.is_none_or(|w| w > as_of)
        })
    };
    let exclusions = read_parquet(&out.join("exclusions.parquet"));
    let reason_of: HashMap<String, String> = strings(&exclusions, "item_id")
        .into_iter()
        .zip(strings(&exclusions, "reason"))
        .map(|(i, r)| (i.unwrap(), r.unwrap()))
        .collect();

    let mut seen = HashSet::new();
    for item in lines(&data.join("items.jsonl")) {
        let id = item["item_id"].as_str().unwrap();
        let created: DateTime<Utc> = item["created_at"].as_str().unwrap().parse().unwrap();
        let platform = item["platform"].as_str().unwrap();
        let tagged: Vec<&str> = item["tagged"]
            .as_array()
            .map(|t| t.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        let shows_child = tagged
            .iter()
            .any(|t| births[*t].is_none_or(|b| !adult_on(b, created.date_naive())));
        let shows_objector =
            PICTURES.contains(&item["kind"].as_str().unwrap()) && tagged.iter().any(|t| objects(t, platform));
        let opted_out = item["usage"].as_str().is_some_and(|u| FORBIDS.contains(&u));
        match reason_of.get(id).map(String::as_str) {
            None => {
                assert!(!shows_child, "{id} tags a child and was included");
                assert!(!shows_objector, "{id} shows an objector and was included");
                assert!(!opted_out, "{id}'s creator opted out and it was included");
            }
            Some(reason @ "tagged_minor") => {
                assert!(shows_child, "{id}: {reason}");
                seen.insert(reason);
            }
            Some(reason @ "tagged_objector") => {
                assert!(shows_objector && !shows_child, "{id}: {reason}");
                seen.insert(reason);
            }
            Some(reason @ "creator_opt_out") => {
                assert!(opted_out && !shows_child && !shows_objector, "{id}: {reason}");
                seen.insert(reason);
            }
            Some(_) => {}
        }
    }
    assert_eq!(seen.len(), 3, "every v1.1 reason occurs: {seen:?}");
    for reason in ["tagged_minor", "tagged_objector", "creator_opt_out"] {
        assert_eq!(
            m.excluded_by_reason[reason],
            reason_of.values().filter(|r| *r == reason).count() as u64
        );
    }
}

#[test]
fn a_v1_1_export_builds_the_same_shards_from_json_lines_and_parquet() {
    let tmp = tempfile::tempdir().unwrap();
    let (pq, js) = (tmp.path().join("pq"), tmp.path().join("js"));
    let objections = generate_v1_1(&pq, 200, 11, veto_synth::Format::Parquet);
    generate_v1_1(&js, 200, 11, veto_synth::Format::JsonLines);
    let a = run(request(&pq, tmp.path().join("a"), objections.clone()))
        .unwrap()
        .manifest;
    let b = run(request(&js, tmp.path().join("b"), objections.clone()))
        .unwrap()
        .manifest;
    let roots = |m: &veto_engine::Manifest| m.shards.iter().map(|s| s.merkle_root.clone()).collect::<Vec<_>>();
    assert_eq!(roots(&a), roots(&b));
    assert_eq!(a.excluded_by_reason, b.excluded_by_reason);
    assert!(a.excluded_by_reason["tagged_minor"] > 0, "{:?}", a.excluded_by_reason);
    // The v1 fields are the same in v1 and v1.1: only the new reasons move
    // items, so what v1 includes is at least what v1.1 includes.
    let v1 = tmp.path().join("v1");
    generate(&v1, 200, 11, veto_synth::Format::Parquet);
    let c = run(request(&v1, tmp.path().join("c"), objections)).unwrap().manifest;
    assert_eq!(c.items.read, a.items.read);
    let new: u64 = ["tagged_minor", "tagged_objector", "creator_opt_out"]
        .iter()
        .map(|r| a.excluded_by_reason[*r])
        .sum();
    assert_eq!(c.items.included, a.items.included + new);
}

#[test]
fn a_bad_usage_or_an_unknown_tagged_person_is_named_by_row_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    let objections = generate_v1_1(&data, 40, 3, veto_synth::Format::JsonLines);
    let items = std::fs::read_to_string(data.join("items.jsonl")).unwrap();
    let mut rows: Vec<Value> = items.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let write = |rows: &[Value]| {
        let text: Vec<String> = rows.iter().map(Value::to_string).collect();
        std::fs::write(data.join("items.jsonl"), text.join("\n") + "\n").unwrap();
    };
    let original = rows[6].clone();
    for (field, value, expect) in [
        ("usage", Value::from("train-ai=no"), "\"train-ai=no\""),
        ("usage", Value::from("Train-AI=n"), "unknown category"),
        (
            "tagged",
            serde_json::json!(["nobody-here"]),
            "tagged person \"nobody-here\" is not in persons",
        ),
        ("tagged", serde_json::json!([""]), "empty"),
        ("tagged", serde_json::json!("p00000001"), "expected a list of strings"),
    ] {
        rows[6] = original.clone();
        rows[6][field] = value;
        write(&rows);
        let err = run(request(&data, tmp.path().join("snap"), objections.clone())).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 7"), "{text}");
        assert!(text.contains(field), "{text}");
        assert!(text.contains(expect), "{text}");
    }
}

/// The names of persons in the export, by id.
fn display_names(data: &std::path::Path) -> HashMap<String, String> {
    lines(&data.join("persons.jsonl"))
        .iter()
        .filter_map(|p| {
            Some((
                p["person_id"].as_str()?.to_string(),
                p["display_name"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// The texts of every shard.
fn shard_texts(out: &std::path::Path) -> Vec<String> {
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(out.join("shards")).unwrap() {
        let batches = read_parquet(&entry.unwrap().path());
        texts.extend(strings(&batches, "text").into_iter().flatten());
    }
    texts
}

/// The oracle's own folding: lower case and the German spellings.
fn folded(s: &str) -> String {
    s.to_lowercase()
        .replace('ä', "ae")
        .replace('ö', "oe")
        .replace('ü', "ue")
        .replace('ß', "ss")
}

/// `name` as a whole word (or words) of a folded text.
fn whole_words(name: &str) -> regex::Regex {
    let pattern = format!(r"(^|[^\w]){}([^\w]|$)", regex::escape(&folded(name)));
    regex::Regex::new(&pattern).unwrap()
}

/// Whether `name` is a whole word (or words) of the folded texts.
fn named_in(folded_texts: &[String], name: &str) -> bool {
    let re = whole_words(name);
    folded_texts.iter().any(|t| re.is_match(t))
}

#[test]
fn objectors_named_in_other_peoples_text_become_placeholders_and_others_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    let objections = generate_v1_1(&data, 500, 13, veto_synth::Format::JsonLines);
    let names = display_names(&data);
    let out = tmp.path().join("snap");
    let mut req = request(&data, out.clone(), objections.clone());
    let as_of = req.as_of;
    // A person without an account who shares a user's name (that user has
    // not objected): their objection redacts the name too.
    let objecting: HashSet<&str> = objections
        .iter()
        .filter(|o| o.filed_at <= as_of && o.withdrawn_at.is_none_or(|w| w > as_of))
        .map(|o| o.person_id.as_str())
        .collect();
    let texts_before: Vec<String> = lines(&data.join("items.jsonl"))
        .iter()
        .filter_map(|i| i["text"].as_str().map(folded))
        .collect();
    let mut bystanders: Vec<&String> = names
        .iter()
        .filter(|(id, _)| !objecting.contains(id.as_str()))
        .map(|(_, n)| n)
        .filter(|n| named_in(&texts_before, n))
        .collect();
    bystanders.sort();
    let namesake = bystanders[0].clone();
    req.third_parties = vec![veto_core::ThirdParty {
        objection_id: "third-1".into(),
        subject: veto_core::Subject {
            display_name: Some(namesake.clone()),
            ..Default::default()
        },
        screened: false,
    }];
    let outcome = run(req).unwrap();
    let m = outcome.manifest;
    // Screened first: a bystander's name in a handful of authors' items is
    // under the default threshold, so it is applied.
    let [screening] = outcome.objectors.screenings.as_slice() else {
        panic!("one screening: {:?}", outcome.objectors.screenings)
    };
    assert!(!screening.held && screening.authors > 0, "{screening:?}");
    let third = veto_engine::Objector::ThirdParty("third-1".into());
    assert!(outcome.objectors.mentions.iter().any(|(o, n)| *o == third && *n > 0));
    let texts = shard_texts(&out);
    let folded_texts: Vec<String> = texts.iter().map(|t| folded(t)).collect();

    for (id, name) in &names {
        if objecting.contains(id.as_str()) || *name == namesake {
            assert!(!named_in(&folded_texts, name), "{name} objected and is still named");
        }
    }
    // Precision: names of people who did not object stay.
    let kept = bystanders
        .iter()
        .filter(|n| ***n != namesake && named_in(&folded_texts, n))
        .count();
    assert!(kept > 0, "some bystanders are still named");
    assert!(texts.iter().any(|t| t.contains("<PERSON>")));
    assert!(m.objector_mentions.names > 0, "{:?}", m.objector_mentions);
}

#[test]
fn a_third_party_named_by_more_authors_than_the_threshold_waits_and_is_not_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    let objections = generate_v1_1(&data, 500, 13, veto_synth::Format::JsonLines);
    let out = tmp.path().join("snap");
    let mut req = request(&data, out.clone(), objections);
    // Count with the oracle: the distinct authors of items that name the
    // most-named display name.
    let names = display_names(&data);
    let items: Vec<(String, String)> = lines(&data.join("items.jsonl"))
        .iter()
        .filter_map(|i| Some((i["person_id"].as_str()?.to_string(), folded(i["text"].as_str()?))))
        .collect();
    let authors_of = |name: &str| {
        let re = whole_words(name);
        let mut who: Vec<&str> = items
            .iter()
            .filter(|(_, t)| re.is_match(t))
            .map(|(p, _)| p.as_str())
            .collect();
        who.sort();
        who.dedup();
        who.len() as u64
    };
    let (famous, authors) = names
        .values()
        .map(|n| (n.clone(), authors_of(n)))
        .max_by_key(|(_, a)| *a)
        .unwrap();
    assert!(authors >= 2, "the generated texts name someone twice");
    req.policy.third_party_review_threshold = authors - 1;
    req.third_parties = vec![veto_core::ThirdParty {
        objection_id: "famous".into(),
        subject: veto_core::Subject {
            display_name: Some(famous.clone()),
            ..Default::default()
        },
        screened: false,
    }];
    let outcome = run(req).unwrap();
    assert_eq!(
        outcome.objectors.screenings,
        [veto_core::Screening {
            objection_id: "famous".into(),
            authors,
            threshold: authors - 1,
            held: true,
        }]
    );
    let third = veto_engine::Objector::ThirdParty("famous".into());
    assert!(!outcome.objectors.mentions.iter().any(|(o, _)| *o == third));
}
