//! Rule tests: fixed boundary cases a human checked, and property tests that
//! restate each rule independently and compare with [`evaluate`].

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use proptest::prelude::*;

use super::*;
use crate::model::{Channel, ObjectionScope};
use crate::usage::Usage;

fn meta() -> Policy {
    Policy::preset("meta-2025").unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    crate::time::parse_rfc3339(s).unwrap()
}

fn date(s: &str) -> NaiveDate {
    crate::time::parse_date(s).unwrap()
}

fn post(created: &str) -> ItemFacts {
    ItemFacts {
        platform: Platform::Facebook,
        kind: Kind::Post,
        audience: Audience::Public,
        created_at: utc(created),
        deleted_at: None,
        usage: Usage::Unstated,
    }
}

const ADULT: PersonFacts<'static> = PersonFacts {
    birth_date: NaiveDate::from_ymd_opt(1980, 6, 1),
    country: Some("DE"),
};

fn objection(scope: ObjectionScope, filed: DateTime<Utc>, withdrawn: Option<DateTime<Utc>>) -> Objection {
    Objection {
        objection_id: "o1".into(),
        person_id: "p1".into(),
        scope,
        filed_at: filed,
        withdrawn_at: withdrawn,
        channel: Channel::Web,
    }
}

#[test]
fn an_item_created_exactly_at_the_as_of_time_is_included() {
    let t = utc("2025-06-01T00:00:00Z");
    assert_eq!(evaluate(&meta(), t, &post("2025-06-01T00:00:00Z"), &ADULT, &[]), Ok(()));
    let one_us_later = ItemFacts {
        created_at: t + Duration::microseconds(1),
        ..post("2025-06-01T00:00:00Z")
    };
    assert_eq!(
        evaluate(&meta(), t, &one_us_later, &ADULT, &[]),
        Err(Reason::NotYetCreated)
    );
}

#[test]
fn an_item_deleted_exactly_at_the_as_of_time_is_gone() {
    let t = utc("2025-06-01T00:00:00Z");
    let deleted = ItemFacts {
        deleted_at: Some(t),
        ..post("2025-01-01T00:00:00Z")
    };
    assert_eq!(evaluate(&meta(), t, &deleted, &ADULT, &[]), Err(Reason::Deleted));
    let later = ItemFacts {
        deleted_at: Some(t + Duration::seconds(1)),
        ..deleted
    };
    assert_eq!(evaluate(&meta(), t, &later, &ADULT, &[]), Ok(()));
}

#[test]
fn the_eighteenth_birthday_counts_from_midnight_utc_of_that_day() {
    let t = utc("2025-06-01T00:00:00Z");
    let teen = PersonFacts {
        birth_date: Some(date("2007-03-15")),
        country: Some("DE"),
    };
    let day_before = post("2025-03-14T23:59:59Z");
    let birthday = post("2025-03-15T00:00:00Z");
    assert_eq!(evaluate(&meta(), t, &day_before, &teen, &[]), Err(Reason::Minor));
    assert_eq!(evaluate(&meta(), t, &birthday, &teen, &[]), Ok(()));
    // 23:30 on the 14th in Berlin is 22:30 UTC on the 14th: the rule reads
    // the UTC date, so the person is still 17 there.
    let berlin_evening = Berlin
        .with_ymd_and_hms(2025, 3, 14, 23, 30, 0)
        .unwrap()
        .with_timezone(&Utc);
    let item = ItemFacts {
        created_at: berlin_evening,
        ..birthday
    };
    assert_eq!(evaluate(&meta(), t, &item, &teen, &[]), Err(Reason::Minor));
}

#[test]
fn leap_day_babies_come_of_age_on_the_first_of_march() {
    let b = date("2004-02-29");
    assert_eq!(age_on(b, date("2022-02-28")), 17);
    assert_eq!(age_on(b, date("2022-03-01")), 18);
    // In a leap year the birthday is 29 February itself.
    assert_eq!(age_on(b, date("2024-02-28")), 19);
    assert_eq!(age_on(b, date("2024-02-29")), 20);
    assert_eq!(age_on(date("2000-01-01"), date("2017-12-31")), 17);
}

#[test]
fn an_objection_filed_at_the_deadline_second_counts_for_the_first_build() {
    let p = meta();
    let deadline = Berlin
        .with_ymd_and_hms(2025, 5, 26, 23, 59, 59)
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(deadline, p.deadline_last_second());
    assert!(!p.is_late(deadline));
    // The whole last second counts, to its last microsecond.
    assert!(!p.is_late(deadline + Duration::milliseconds(400)));
    assert!(!p.is_late(deadline + Duration::microseconds(999_999)));
    assert!(p.is_late(deadline + Duration::seconds(1)));
    let first_build = p.training_start;
    let o = objection(ObjectionScope::All, deadline, None);
    assert_eq!(
        evaluate(&p, first_build, &post("2025-01-01T00:00:00Z"), &ADULT, &[o]),
        Err(Reason::Objection)
    );
}

#[test]
fn withdrawn_objections_stop_counting_at_the_withdrawal_instant() {
    let t = utc("2025-07-01T00:00:00Z");
    let item = post("2025-01-01T00:00:00Z");
    let at_t = objection(ObjectionScope::All, utc("2025-05-01T00:00:00Z"), Some(t));
    assert_eq!(evaluate(&meta(), t, &item, &ADULT, &[at_t]), Ok(()));
    let after_t = objection(
        ObjectionScope::All,
        utc("2025-05-01T00:00:00Z"),
        Some(t + Duration::seconds(1)),
    );
    assert_eq!(evaluate(&meta(), t, &item, &ADULT, &[after_t]), Err(Reason::Objection));
}

#[test]
fn a_platform_objection_covers_only_that_platform() {
    let t = utc("2025-07-01T00:00:00Z");
    let o = objection(ObjectionScope::Instagram, utc("2025-05-01T00:00:00Z"), None);
    let fb = post("2025-01-01T00:00:00Z");
    let ig = ItemFacts {
        platform: Platform::Instagram,
        ..fb
    };
    assert_eq!(evaluate(&meta(), t, &fb, &ADULT, std::slice::from_ref(&o)), Ok(()));
    assert_eq!(evaluate(&meta(), t, &ig, &ADULT, &[o]), Err(Reason::Objection));
}

#[test]
fn assistant_chats_follow_the_policy_and_private_audiences_never_pass() {
    let t = utc("2025-07-01T00:00:00Z");
    let chat = ItemFacts {
        platform: Platform::Whatsapp,
        kind: Kind::AiChat,
        audience: Audience::Assistant,
        ..post("2025-01-01T00:00:00Z")
    };
    assert_eq!(evaluate(&meta(), t, &chat, &ADULT, &[]), Ok(()));
    let strict = Policy::preset("strict").unwrap();
    assert_eq!(evaluate(&strict, t, &chat, &ADULT, &[]), Err(Reason::NotPublic));
    for audience in [Audience::Friends, Audience::OnlyMe, Audience::E2e] {
        let item = ItemFacts {
            audience,
            ..post("2025-01-01T00:00:00Z")
        };
        assert_eq!(evaluate(&meta(), t, &item, &ADULT, &[]), Err(Reason::NotPublic));
    }
    let pm = ItemFacts {
        platform: Platform::Whatsapp,
        kind: Kind::PrivateMessage,
        audience: Audience::E2e,
        ..chat
    };
    assert_eq!(evaluate(&meta(), t, &pm, &ADULT, &[]), Err(Reason::OutOfScope));
}

#[test]
fn unknown_country_or_outside_the_eea_is_out_of_region() {
    let t = utc("2025-07-01T00:00:00Z");
    let item = post("2025-01-01T00:00:00Z");
    for country in [None, Some("CH"), Some("US")] {
        let p = PersonFacts { country, ..ADULT };
        assert_eq!(
            evaluate(&meta(), t, &item, &p, &[]),
            Err(Reason::OutOfRegion),
            "{country:?}"
        );
    }
    let no = PersonFacts {
        country: Some("NO"),
        ..ADULT
    };
    assert_eq!(evaluate(&meta(), t, &item, &no, &[]), Ok(()));
}

#[test]
fn an_adults_public_photo_of_a_child_is_a_childs_photo() {
    let t = utc("2025-07-01T00:00:00Z");
    let photo = ItemFacts {
        kind: Kind::Photo,
        ..post("2025-03-14T12:00:00Z")
    };
    let child = TaggedFacts {
        birth_date: Some(date("2007-03-15")),
        objections: &[],
    };
    let unknown = TaggedFacts {
        birth_date: None,
        objections: &[],
    };
    let grown = TaggedFacts {
        birth_date: Some(date("2007-03-14")),
        objections: &[],
    };
    assert_eq!(
        evaluate_tagged(&meta(), t, &photo, &ADULT, &[], &[child]),
        Err(Reason::TaggedMinor)
    );
    assert_eq!(
        evaluate_tagged(&meta(), t, &photo, &ADULT, &[], &[grown, unknown]),
        Err(Reason::TaggedMinor)
    );
    assert_eq!(
        evaluate_tagged(&meta(), t, &photo, &ADULT, &[], &[grown]),
        Ok(()),
        "18 that day"
    );
    // Any kind: a comment tagging a child is a child's too.
    let comment = ItemFacts {
        kind: Kind::Comment,
        ..photo
    };
    assert_eq!(
        evaluate_tagged(&meta(), t, &comment, &ADULT, &[], &[child]),
        Err(Reason::TaggedMinor)
    );
}

#[test]
fn a_tagged_objector_removes_pictures_of_them_but_not_text_naming_them() {
    let t = utc("2025-07-01T00:00:00Z");
    let o = [objection(ObjectionScope::Instagram, utc("2025-05-01T00:00:00Z"), None)];
    let objector = TaggedFacts {
        birth_date: Some(date("1990-01-01")),
        objections: &o,
    };
    for kind in [Kind::Photo, Kind::Video, Kind::Reel, Kind::Story, Kind::ProfilePicture] {
        let item = ItemFacts {
            kind,
            platform: Platform::Instagram,
            ..post("2025-01-01T00:00:00Z")
        };
        assert_eq!(
            evaluate_tagged(&meta(), t, &item, &ADULT, &[], &[objector]),
            Err(Reason::TaggedObjector),
            "{kind}"
        );
        let facebook = ItemFacts {
            platform: Platform::Facebook,
            ..item
        };
        assert_eq!(
            evaluate_tagged(&meta(), t, &facebook, &ADULT, &[], &[objector]),
            Ok(()),
            "scope"
        );
    }
    let comment = ItemFacts {
        kind: Kind::Comment,
        platform: Platform::Instagram,
        ..post("2025-01-01T00:00:00Z")
    };
    assert_eq!(evaluate_tagged(&meta(), t, &comment, &ADULT, &[], &[objector]), Ok(()));
}

#[test]
fn a_creators_opt_out_comes_last() {
    let t = utc("2025-07-01T00:00:00Z");
    let opted_out = ItemFacts {
        usage: Usage::parse("train-ai=n").unwrap(),
        ..post("2025-01-01T00:00:00Z")
    };
    assert_eq!(
        evaluate(&meta(), t, &opted_out, &ADULT, &[]),
        Err(Reason::CreatorOptOut)
    );
    let o = objection(ObjectionScope::All, utc("2025-05-01T00:00:00Z"), None);
    assert_eq!(
        evaluate(&meta(), t, &opted_out, &ADULT, &[o]),
        Err(Reason::Objection),
        "precedence"
    );
    let allowed = ItemFacts {
        usage: Usage::parse(
            "cawg.ai_training"
                .strip_prefix("cawg.ai_training")
                .map_or("allowed", |_| "allowed"),
        )
        .unwrap(),
        ..opted_out
    };
    assert_eq!(evaluate(&meta(), t, &allowed, &ADULT, &[]), Ok(()));
}

// ---- property tests: an independent restatement of each rule ----

fn arb_time() -> impl Strategy<Value = DateTime<Utc>> {
    // 2024-01-01 .. 2026-01-01, to the second, so collisions with T happen.
    (1_704_067_200i64..1_767_225_600).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap())
}

fn arb_item() -> impl Strategy<Value = ItemFacts> {
    (
        prop::sample::select(Platform::ALL),
        prop::sample::select(Kind::ALL),
        prop::sample::select(Audience::ALL),
        arb_time(),
        prop::option::of(arb_time()),
        prop::sample::select(vec![Usage::Unstated, Usage::Allowed, Usage::Disallowed]),
    )
        .prop_map(|(platform, kind, audience, created_at, deleted_at, usage)| ItemFacts {
            platform,
            kind,
            audience,
            created_at,
            deleted_at,
            usage,
        })
}

fn arb_objection() -> impl Strategy<Value = Objection> {
    (
        prop::sample::select(ObjectionScope::ALL),
        arb_time(),
        prop::option::of(arb_time()),
    )
        .prop_map(|(scope, filed, withdrawn)| objection(scope, filed, withdrawn.filter(|w| *w >= filed)))
}

prop_compose! {
    fn arb_person()(
        birth in prop::option::of(0i64..40 * 366).prop_map(|d| d.map(|d| date("1990-01-01") + Duration::days(d))),
        country in prop::option::of(prop::sample::select(vec!["DE", "FR", "NO", "CH", "US"])),
    ) -> (Option<NaiveDate>, Option<&'static str>) {
        (birth, country)
    }
}

proptest! {
    #[test]
    fn the_first_failing_rule_names_the_reason(
        item in arb_item(),
        person in arb_person(),
        objections in prop::collection::vec(arb_objection(), 0..4),
        tagged in prop::collection::vec((arb_person(), prop::collection::vec(arb_objection(), 0..3)), 0..3),
        t in arb_time(),
        strict in any::<bool>(),
    ) {
        let policy = Policy::preset(if strict { "strict" } else { "meta-2025" }).unwrap();
        let facts = PersonFacts { birth_date: person.0, country: person.1 };
        let tagged_facts: Vec<TaggedFacts<'_>> = tagged
            .iter()
            .map(|((birth, _), objections)| TaggedFacts { birth_date: *birth, objections })
            .collect();
        let in_force_for = |objections: &[Objection]| objections.iter().any(|o| {
            let covers = o.scope == ObjectionScope::All || o.scope.as_str() == item.platform.as_str();
            covers && o.filed_at <= t && o.withdrawn_at.is_none_or(|w| w > t)
        });
        let under_18_on_creation = |b: NaiveDate| {
            // Adult from the 18th birthday (1 March for 29 February).
            let y = b.year() + 18;
            let bd = NaiveDate::from_ymd_opt(y, b.month(), b.day()).unwrap_or(NaiveDate::from_ymd_opt(y, 3, 1).unwrap());
            item.created_at.date_naive() < bd
        };
        let shows_people = matches!(item.kind.as_str(), "photo" | "video" | "reel" | "story" | "profile_picture");
        // Each rule restated on its own, in the order.
        let checks: [(bool, Reason); 11] = [
            (item.created_at > t, Reason::NotYetCreated),
            (matches!(item.deleted_at, Some(d) if d <= t), Reason::Deleted),
            (!policy.kinds_for(item.platform).contains(&item.kind), Reason::OutOfScope),
            (!(item.audience == Audience::Public || (item.audience == Audience::Assistant && !strict)), Reason::NotPublic),
            (person.0.is_none(), Reason::AgeUnknown),
            (person.0.is_some_and(|b| {
                // Adult from the 18th birthday (1 March for 29 February).
                let y = b.year() + 18;
                let bd = NaiveDate::from_ymd_opt(y, b.month(), b.day()).unwrap_or(NaiveDate::from_ymd_opt(y, 3, 1).unwrap());
                item.created_at.date_naive() < bd
            }), Reason::Minor),
            (!matches!(person.1, Some("DE" | "FR" | "NO")), Reason::OutOfRegion),
            (in_force_for(&objections), Reason::Objection),
            (tagged.iter().any(|((birth, _), _)| birth.is_none_or(under_18_on_creation)), Reason::TaggedMinor),
            (shows_people && tagged.iter().any(|(_, objections)| in_force_for(objections)), Reason::TaggedObjector),
            (item.usage == Usage::Disallowed, Reason::CreatorOptOut),
        ];
        let expected = checks.iter().find(|(fails, _)| *fails).map(|(_, r)| *r);
        prop_assert_eq!(evaluate_tagged(&policy, t, &item, &facts, &objections, &tagged_facts).err(), expected);
        if tagged.is_empty() {
            prop_assert_eq!(evaluate(&policy, t, &item, &facts, &objections).err(), expected);
        }
    }

    #[test]
    fn unlearning_looks_at_every_objection_that_can_apply_after_a_build(
        objections in prop::collection::vec(arb_objection(), 0..4),
        platform in prop::sample::select(vec![Platform::Facebook, Platform::Instagram]),
        as_of in arb_time(),
        later in arb_time(),
    ) {
        prop_assume!(later >= as_of, "unlearning happens after the build");
        // Restated: covers the platform and filed by t, not withdrawn by t.
        let in_force = |t: DateTime<Utc>| objections.iter().any(|o| {
            (o.scope == ObjectionScope::All || o.scope.as_str() == platform.as_str())
                && o.filed_at <= t && !matches!(o.withdrawn_at, Some(w) if w <= t)
        });
        if in_force(later) && !in_force(as_of) {
            prop_assert!(objections.iter().any(|o| may_apply_after(o, as_of)));
        }
        // Without such an objection nothing the build included is removed.
        if !objections.iter().any(|o| may_apply_after(o, as_of)) {
            prop_assert!(!objection_applies(&objections, platform, later) || in_force(as_of));
        }
    }

    #[test]
    fn private_content_is_never_included_under_any_preset(
        item in arb_item(),
        t in arb_time(),
        strict in any::<bool>(),
    ) {
        let policy = Policy::preset(if strict { "strict" } else { "meta-2025" }).unwrap();
        let private = matches!(item.audience, Audience::Friends | Audience::OnlyMe | Audience::E2e)
            || item.kind == Kind::PrivateMessage;
        if private {
            prop_assert!(evaluate(&policy, t, &item, &ADULT, &[]).is_err());
        }
    }

    #[test]
    fn age_grows_by_exactly_one_on_each_birthday(birth_days in 0i64..30_000, years in 1i32..90) {
        let birth = date("1930-01-01") + Duration::days(birth_days);
        let y = birth.year() + years;
        let birthday = NaiveDate::from_ymd_opt(y, birth.month(), birth.day())
            .unwrap_or(NaiveDate::from_ymd_opt(y, 3, 1).unwrap());
        prop_assert_eq!(age_on(birth, birthday), years);
        prop_assert_eq!(age_on(birth, birthday.pred_opt().unwrap()), years - 1);
    }
}
