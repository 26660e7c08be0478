//! veto-synth: a synthetic platform for demos, tests and benchmarks.
//!
//! [`generate`] writes an export in format v1 (persons and items, Parquet or
//! JSON Lines) plus `objections.jsonl`: German posts with emails, phone
//! numbers, IBANs and mentions, every kind and audience, minors and unknown
//! birth dates, people outside the EU/EEA, deleted items, assistant chats, and
//! objections before and after the Meta deadline, scoped and withdrawn.
//! The same seed gives the same files. [`generate_export`] with
//! [`Version::V1_1`] also writes v1.1's `tagged` and `usage`, drawn from a
//! random stream of their own, so every v1 field is byte for byte what v1
//! gives.

pub mod fortunes;
mod text;
mod write;

use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use veto_core::{Audience, Channel, Kind, Objection, ObjectionScope, Platform};

pub use text::valid_iban;
pub use write::Format;

/// A generated person.
#[derive(Clone, Debug)]
pub struct Person {
    pub person_id: String,
    pub birth_date: Option<NaiveDate>,
    pub country: Option<String>,
    pub display_name: Option<String>,
    pub handles: Vec<String>,
}

/// A generated item.
#[derive(Clone, Debug)]
pub struct Item {
    pub item_id: String,
    pub person_id: String,
    pub platform: Platform,
    pub kind: Kind,
    pub audience: Audience,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub text: Option<String>,
    pub media_uri: Option<String>,
    pub media_sha256: Option<String>,
    pub lang: Option<String>,
    /// v1.1: persons the item depicts or tags.
    pub tagged: Vec<String>,
    /// v1.1: the creator's preference about AI training.
    pub usage: Option<String>,
}

/// The export format version to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    /// v1 plus the items' `tagged` and `usage`.
    V1_1,
}

/// The `usage` values the generator writes, one of each vocabulary's forms
/// (docs/export-format.md).
pub const USAGE_VALUES: &[&str] = &[
    "train-ai=n",
    "train-ai=y, search=y",
    "search=n",
    "tdm-reservation=1",
    "tdm-reservation=0",
    "allowed",
    "notAllowed",
    "constrained",
];

/// What was generated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub persons: u64,
    pub items: u64,
    pub objections: u64,
}

/// Errors while writing the generated files.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("writing parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("building arrow data: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}

const EEA: &[&str] = &[
    "DE", "DE", "DE", "DE", "AT", "FR", "NL", "PL", "IT", "ES", "BE", "SE", "IE", "NO", "IS", "LI",
];
const ELSEWHERE: &[&str] = &["CH", "GB", "US", "TR"];

/// Posts per person are drawn from `1..=DEFAULT_MAX_POSTS` unless told
/// otherwise: about 8.8 items per person in all.
pub const DEFAULT_MAX_POSTS: u32 = 9;

/// Generates `persons` people (about 8.8 items each) into `out`.
pub fn generate(out: &Path, persons: usize, seed: u64, format: Format) -> Result<Summary, GenerateError> {
    generate_with_posts(out, persons, DEFAULT_MAX_POSTS, seed, format)
}

/// Like [`generate`], with each person's posts drawn from `1..=max_posts`:
/// more items from the same people, which is how a benchmark separates
/// what grows with the items from what grows with the persons.
pub fn generate_with_posts(
    out: &Path,
    persons: usize,
    max_posts: u32,
    seed: u64,
    format: Format,
) -> Result<Summary, GenerateError> {
    generate_export(out, persons, max_posts, seed, format, Version::V1)
}

/// Like [`generate_with_posts`], in export format `version`.
pub fn generate_export(
    out: &Path,
    persons: usize,
    max_posts: u32,
    seed: u64,
    format: Format,
    version: Version,
) -> Result<Summary, GenerateError> {
    std::fs::create_dir_all(out).map_err(|source| GenerateError::Io {
        path: out.display().to_string(),
        source,
    })?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let people: Vec<Person> = (0..persons).map(|i| person(&mut rng, i)).collect();
    let all_handles: Vec<String> = people.iter().flat_map(|p| p.handles.iter().cloned()).collect();
    let mut items_out = write::ItemWriter::create(out, format, version)?;
    let mut item_count = 0u64;
    let mut objections = Vec::new();
    // v1.1's fields come from a stream of their own (see the crate docs).
    let mut tags_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7a67_6765_645f_7631);
    for p in &people {
        for mut item in items_for(&mut rng, p, &all_handles, max_posts.max(1), &mut item_count) {
            if version == Version::V1_1 {
                tag_and_mark(&mut tags_rng, &mut item, &people);
            }
            items_out.push(item)?;
        }
        if let Some(o) = objection_for(&mut rng, p, objections.len()) {
            objections.push(o);
        }
    }
    items_out.finish()?;
    write::persons(out, format, &people)?;
    write::objections(out, &objections)?;
    Ok(Summary {
        persons: persons as u64,
        items: item_count,
        objections: objections.len() as u64,
    })
}

/// v1.1: a quarter of the pictures tag one or two other people (minors and
/// objectors among them, as in life), a few comments tag someone, 3% of
/// items carry a creator's preference, and some posts name someone else.
fn tag_and_mark(rng: &mut ChaCha8Rng, item: &mut Item, people: &[Person]) {
    let pictures = matches!(
        item.kind,
        Kind::Photo | Kind::Video | Kind::Reel | Kind::Story | Kind::ProfilePicture
    );
    let chance = if pictures {
        0.25
    } else if item.kind == Kind::Comment {
        0.05
    } else {
        0.0
    };
    if chance > 0.0 && rng.random_bool(chance) {
        for _ in 0..rng.random_range(1..=2) {
            let other = &people[rng.random_range(0..people.len())];
            if other.person_id != item.person_id && !item.tagged.contains(&other.person_id) {
                item.tagged.push(other.person_id.clone());
            }
        }
    }
    if rng.random_bool(0.03) {
        item.usage = Some(USAGE_VALUES.choose(rng).expect("non-empty").to_string());
    }
    // Someone else named in the text, as people write: "Grüße an Anna Müller".
    if matches!(item.kind, Kind::Post | Kind::Comment) && rng.random_bool(0.12) {
        let other = &people[rng.random_range(0..people.len())];
        if let (Some(text), Some(name)) = (item.text.as_mut(), other.display_name.as_ref()) {
            let name = if rng.random_bool(0.2) {
                name.to_uppercase()
            } else {
                name.clone()
            };
            text.push_str(&format!(" Liebe Grüße an {name}!"));
        }
    }
}

fn person(rng: &mut impl Rng, i: usize) -> Person {
    let first = *text::FIRST_NAMES.choose(rng).expect("non-empty");
    let last = *text::LAST_NAMES.choose(rng).expect("non-empty");
    let birth_date = match rng.random_range(0..100) {
        0..3 => None,
        // Minors: born 2008..2012, so under 18 for most or all of their items.
        3..11 => Some(date(2008, 1, 1) + Duration::days(rng.random_range(0..5 * 365))),
        // Coming of age around the start of training.
        11..14 => Some(date(2007, 1, 1) + Duration::days(rng.random_range(0..365))),
        _ => Some(date(1945, 1, 1) + Duration::days(rng.random_range(0..61 * 365))),
    };
    let country = match rng.random_range(0..100) {
        0..3 => None,
        3..13 => Some(ELSEWHERE.choose(rng).expect("non-empty").to_string()),
        _ => Some(EEA.choose(rng).expect("non-empty").to_string()),
    };
    let base: String = format!("{first}.{last}")
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    let mut handles = vec![format!("{base}{}", i % 1000)];
    if rng.random_bool(0.3) {
        handles.push(format!(
            "{}_{i}",
            first
                .to_lowercase()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
        ));
    }
    Person {
        person_id: format!("p{i:08}"),
        birth_date,
        country,
        display_name: rng.random_bool(0.95).then(|| format!("{first} {last}")),
        handles,
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn instant<R: Rng + ?Sized>(rng: &mut R, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    let span = (to - from).num_seconds().max(1);
    from + Duration::seconds(rng.random_range(0..span))
}

fn items_for(rng: &mut ChaCha8Rng, p: &Person, handles: &[String], max_posts: u32, count: &mut u64) -> Vec<Item> {
    let start = Utc.with_ymd_and_hms(2016, 1, 1, 0, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2025, 9, 1, 0, 0, 0).unwrap();
    let mut items = Vec::new();
    let mut push = |platform, kind, audience, text: Option<String>, media: bool, rng: &mut ChaCha8Rng| {
        *count += 1;
        let created_at = instant(rng, start, end);
        let deleted_at = rng
            .random_bool(0.05)
            .then(|| instant(rng, created_at, end + Duration::days(60)));
        let item_id = format!("i{:010}", *count);
        let media_uri = media.then(|| format!("media://{platform}/{item_id}.jpg"));
        let media_sha256 = media_uri.as_ref().map(|u| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(u.as_bytes()))
        });
        let lang = match rng.random_range(0..100) {
            0..80 => Some("de"),
            80..90 => Some("en"),
            90..95 => Some("fr"),
            _ => None,
        };
        items.push(Item {
            item_id,
            person_id: p.person_id.clone(),
            platform,
            kind,
            audience,
            created_at,
            deleted_at,
            text,
            media_uri,
            media_sha256,
            lang: lang.map(str::to_string),
            tagged: Vec::new(),
            usage: None,
        });
    };
    let name = p.display_name.clone();
    push(Platform::Facebook, Kind::Name, Audience::Public, name, false, rng);
    push(
        Platform::Instagram,
        Kind::Username,
        Audience::Public,
        p.handles.first().cloned(),
        false,
        rng,
    );
    if rng.random_bool(0.7) {
        push(
            Platform::Facebook,
            Kind::ProfilePicture,
            Audience::Public,
            None,
            true,
            rng,
        );
    }
    let posts = rng.random_range(1..=max_posts);
    for _ in 0..posts {
        let platform = if rng.random_bool(0.55) {
            Platform::Facebook
        } else {
            Platform::Instagram
        };
        let audience = match rng.random_range(0..10) {
            0..6 => Audience::Public,
            6..9 => Audience::Friends,
            _ => Audience::OnlyMe,
        };
        let (kind, media) = match rng.random_range(0..20) {
            0..8 => (Kind::Post, false),
            8..11 => (Kind::Photo, true),
            11..12 => (Kind::Video, true),
            12..14 => (Kind::Story, true),
            14..15 => (Kind::Reel, true),
            _ => (Kind::Comment, false),
        };
        let text = text::post(rng, handles);
        push(platform, kind, audience, Some(text), media, rng);
    }
    if rng.random_bool(0.4) {
        let platform = *[
            Platform::Whatsapp,
            Platform::Whatsapp,
            Platform::Facebook,
            Platform::Instagram,
        ]
        .choose(rng)
        .expect("non-empty");
        let chat = text::assistant_chat(rng);
        push(platform, Kind::AiChat, Audience::Assistant, Some(chat), false, rng);
    }
    if rng.random_bool(0.5) {
        let text = text::post(rng, handles);
        push(
            Platform::Whatsapp,
            Kind::PrivateMessage,
            Audience::E2e,
            Some(text),
            false,
            rng,
        );
    }
    if rng.random_bool(0.2) {
        let text = text::post(rng, handles);
        push(
            Platform::Facebook,
            Kind::PrivateMessage,
            Audience::Friends,
            Some(text),
            false,
            rng,
        );
    }
    items
}

/// About 15% of people object: most before the deadline (one exactly at the
/// deadline second), some late, some for one platform only, some withdrawn.
fn objection_for(rng: &mut impl Rng, p: &Person, n: usize) -> Option<Objection> {
    if !rng.random_bool(0.15) {
        return None;
    }
    // 26 May 2025 23:59:59 in Berlin (CEST) is 21:59:59 UTC.
    let deadline = Utc.with_ymd_and_hms(2025, 5, 26, 21, 59, 59).unwrap();
    let filed_at = match rng.random_range(0..100) {
        0 => deadline,
        1..61 => instant(rng, deadline - Duration::days(45), deadline),
        _ => instant(rng, deadline + Duration::seconds(1), deadline + Duration::days(90)),
    };
    let scope = match rng.random_range(0..10) {
        0..7 => ObjectionScope::All,
        7 => ObjectionScope::Facebook,
        8 => ObjectionScope::Instagram,
        _ => ObjectionScope::Whatsapp,
    };
    let withdrawn_at = rng
        .random_bool(0.1)
        .then(|| filed_at + Duration::days(rng.random_range(1..60)));
    Some(Objection {
        objection_id: format!("obj-{n:07}"),
        person_id: p.person_id.clone(),
        scope,
        filed_at,
        withdrawn_at,
        // The channels a platform's people use; `gpc` comes only from a
        // browser at the portal (and keeps earlier seeds' output as it was).
        channel: *[
            Channel::Web,
            Channel::App,
            Channel::Email,
            Channel::Letter,
            Channel::Api,
        ]
        .choose(rng)
        .expect("non-empty"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_posts_means_more_items_from_the_same_persons() {
        let dir = tempfile::tempdir().unwrap();
        let (usual, more, again) = (
            dir.path().join("usual"),
            dir.path().join("more"),
            dir.path().join("again"),
        );
        let a = generate(&usual, 200, 5, Format::Parquet).unwrap();
        let b = generate_with_posts(&more, 200, 60, 5, Format::Parquet).unwrap();
        let c = generate(&again, 200, 5, Format::Parquet).unwrap();
        let bytes = |dir: &Path, file: &str| std::fs::read(dir.join(file)).unwrap();
        // The same people, several times the items.
        assert_eq!(bytes(&usual, "persons.parquet"), bytes(&more, "persons.parquet"));
        assert_eq!((a.persons, b.persons), (200, 200));
        assert!(b.items > 3 * a.items, "{} vs {} items", b.items, a.items);
        // Deterministic per seed.
        assert_eq!(a.items, c.items);
        assert_eq!(bytes(&usual, "items.parquet"), bytes(&again, "items.parquet"));
    }
}
