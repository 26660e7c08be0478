//! The declarative policy: which content a build may use, from when, and how
//! objections and redaction are handled. Loaded from TOML and validated before
//! any data is touched; two presets ship with veto.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{Kind, Platform};

/// The preset that mirrors what Meta announced for 27 May 2025.
pub const META_2025: &str = include_str!("presets/meta-2025.toml");
/// veto's recommendation: no assistant chats, late objections are unlearned.
pub const STRICT: &str = include_str!("presets/strict.toml");

/// Names of the built-in presets, as accepted by [`Policy::preset`].
pub const PRESETS: &[&str] = &["meta-2025", "strict"];

/// What happens to conversations with the platform's AI assistant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssistantChats {
    Train,
    Exclude,
}

/// What an objection filed after the deadline does to models already trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LateObjections {
    KeepTrained,
    Unlearn,
}

/// Which kinds of personal data are replaced by placeholders in included text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionSwitches {
    pub emails: bool,
    pub phones: bool,
    pub ibans: bool,
    pub mentions: bool,
    /// Payment card numbers (Luhn); on unless a policy says otherwise.
    #[serde(default = "on")]
    pub cards: bool,
    /// German tax ids (Steuer-ID, with its check digit); on by default.
    #[serde(default = "on")]
    pub tax_ids: bool,
}

fn on() -> bool {
    true
}

/// A validated policy. Construct it with [`Policy::from_toml`] or
/// [`Policy::preset`]; every field has passed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub name: String,
    pub description: String,
    pub timezone: Tz,
    pub training_start: DateTime<Utc>,
    /// The first instant that is late: the end of the last second the
    /// `objection_deadline` names. Exclusive, so that no fraction of the last
    /// second is lost (an objection at 23:59:59.4 is on time). Only
    /// [`Policy::is_late`] compares against it.
    pub objections_end: DateTime<Utc>,
    /// For each platform, the kinds it may contribute (bit `Kind::code`).
    scope: [u16; 3],
    pub assistant_chats: AssistantChats,
    pub min_age: u32,
    /// ISO 3166-1 alpha-2 codes; empty means every region.
    pub regions: BTreeSet<String>,
    pub late_objections: LateObjections,
    pub redaction: RedactionSwitches,
    /// A signed-in person whose browser sends Global Privacy Control
    /// (`Sec-GPC: 1`) objects by it: GDPR Art. 21(5) allows objecting "by
    /// automated means using technical specifications".
    pub honour_gpc: bool,
    /// A third-party objection whose identifiers match items of more
    /// distinct authors than this waits in the operators' review queue
    /// before a build applies it (`0`: every one waits).
    pub third_party_review_threshold: u64,
    /// SHA-256 (hex) of the policy's TOML text, recorded in every manifest.
    pub sha256: String,
    /// The TOML text itself, published with every snapshot.
    pub source: String,
}

/// A policy that cannot be used, with the place it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub origin: String,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy {}: {}", self.origin, self.message)
    }
}

impl std::error::Error for PolicyError {}

/// The TOML document as written, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    name: String,
    #[serde(default)]
    description: String,
    timezone: String,
    training_start: String,
    objection_deadline: String,
    scope: BTreeMap<Platform, Vec<Kind>>,
    assistant_chats: AssistantChats,
    min_age: u32,
    #[serde(default)]
    regions: Vec<String>,
    late_objections: LateObjections,
    redaction: RedactionSwitches,
    #[serde(default)]
    honour_gpc: bool,
    #[serde(default = "default_review_threshold")]
    third_party_review_threshold: u64,
}

/// Distinct authors above which a third-party objection waits for an
/// operator (a famous name matches thousands of authors' items).
pub const DEFAULT_REVIEW_THRESHOLD: u64 = 1000;

fn default_review_threshold() -> u64 {
    DEFAULT_REVIEW_THRESHOLD
}

/// The youngest age veto ever trains on: children's content is never used,
/// whatever a policy file says.
pub const MIN_AGE_FLOOR: u32 = 18;

impl Policy {
    /// A built-in preset by name (`meta-2025` or `strict`).
    pub fn preset(name: &str) -> Option<Policy> {
        let text = match name {
            "meta-2025" => META_2025,
            "strict" => STRICT,
            _ => return None,
        };
        Some(Policy::from_toml(text, &format!("preset {name}")).expect("built-in presets are valid"))
    }

    /// Parses and validates a policy. `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let err = |message: String| PolicyError {
            origin: origin.to_string(),
            message,
        };
        let file: PolicyFile = toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_string()))?;
        if file.name.trim().is_empty() {
            return Err(err("field `name` must not be empty".into()));
        }
        let timezone: Tz = file
            .timezone
            .parse()
            .map_err(|_| err(format!("field `timezone`: unknown IANA time zone {:?}", file.timezone)))?;
        let training_start = parse_policy_time(&file.training_start, timezone)
            .map_err(|m| err(format!("field `training_start`: {m}")))?;
        let objections_end = parse_deadline_end(&file.objection_deadline, timezone)
            .map_err(|m| err(format!("field `objection_deadline`: {m}")))?;
        // Ending exactly when training starts is fine: the last on-time
        // objection is still honoured before the first training.
        if objections_end > training_start {
            return Err(err(format!(
                "field `objection_deadline` (on time until {objections_end}) must end by `training_start` ({training_start})"
            )));
        }
        let mut scope = [0u16; 3];
        for (platform, kinds) in &file.scope {
            for kind in kinds {
                if *kind == Kind::PrivateMessage {
                    return Err(err(format!(
                        "field `scope.{platform}`: private_message may never be admitted for training"
                    )));
                }
                scope[platform.code() as usize] |= 1 << kind.code();
            }
        }
        if file.min_age < MIN_AGE_FLOOR {
            return Err(err(format!(
                "field `min_age`: {} is below {MIN_AGE_FLOOR}; veto never trains on minors' content",
                file.min_age
            )));
        }
        let mut regions = BTreeSet::new();
        for code in &file.regions {
            if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(err(format!(
                    "field `regions`: {code:?} is not an ISO 3166-1 alpha-2 code (two capital letters)"
                )));
            }
            regions.insert(code.clone());
        }
        Ok(Policy {
            name: file.name,
            description: file.description,
            timezone,
            training_start,
            objections_end,
            scope,
            assistant_chats: file.assistant_chats,
            min_age: file.min_age,
            regions,
            late_objections: file.late_objections,
            redaction: file.redaction,
            honour_gpc: file.honour_gpc,
            third_party_review_threshold: file.third_party_review_threshold,
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
            source: text.to_string(),
        })
    }

    /// Whether the policy lets `platform` contribute items of `kind`.
    pub fn admits(&self, platform: Platform, kind: Kind) -> bool {
        self.scope[platform.code() as usize] & (1 << kind.code()) != 0
    }

    /// The kinds `platform` may contribute, in declaration order.
    pub fn kinds_for(&self, platform: Platform) -> Vec<Kind> {
        Kind::ALL
            .iter()
            .copied()
            .filter(|k| self.admits(platform, *k))
            .collect()
    }

    /// Whether an objection filed at `filed_at` came after the deadline: the
    /// one definition of "late" that receipts, the API, the dashboard, the
    /// demo and the reports use.
    pub fn is_late(&self, filed_at: DateTime<Utc>) -> bool {
        filed_at >= self.objections_end
    }

    /// The last second that is on time, in the policy's time zone (the
    /// deadline as people read it: 26 May 2025, 23:59:59).
    pub fn deadline_last_second(&self) -> DateTime<Tz> {
        (self.objections_end - Duration::seconds(1)).with_timezone(&self.timezone)
    }

    /// The deadline for people, in English: "26 May 2025, 23:59:59 (Europe/Berlin)".
    pub fn deadline_display(&self) -> String {
        format!(
            "{} ({})",
            self.deadline_last_second().format("%-d %B %Y, %H:%M:%S"),
            self.timezone
        )
    }
}

/// The exclusive end of an `objection_deadline`: a date (`2025-05-26`) is
/// the whole day in the policy's time zone; a date-time names the last
/// second that counts, all of it (`2025-05-26T23:59:59` ends at 00:00:00).
/// Both end at the same instant, so older policy files keep their meaning
/// minus the lost second.
fn parse_deadline_end(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let next = day
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .ok_or_else(|| format!("{s:?} is out of range"))?;
        // The earliest midnight if the clocks go back at midnight.
        return tz
            .from_local_datetime(&next)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("the day after {s:?} does not begin at midnight in {tz}"));
    }
    let last_second = parse_policy_time(s, tz).map_err(|m| format!("{m}, nor a date YYYY-MM-DD"))?;
    last_second
        .trunc_subsecs(0)
        .checked_add_signed(Duration::seconds(1))
        .ok_or_else(|| format!("{s:?} is out of range"))
}

/// A time in a policy: RFC 3339 with an offset, or a local date-time
/// (`2025-05-27T00:00:00`) read in the policy's time zone.
fn parse_policy_time(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .map_err(|_| format!("{s:?} is neither RFC 3339 nor a local time YYYY-MM-DDTHH:MM:SS"))?;
    tz.from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{s:?} does not exist or is ambiguous in {tz}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(replace: &str, by: &str) -> String {
        assert!(STRICT.contains(replace), "test edits a line that exists: {replace}");
        STRICT.replace(replace, by)
    }

    #[test]
    fn meta_2025_mirrors_the_announcement() {
        let p = Policy::preset("meta-2025").unwrap();
        // 27 May 2025 00:00 in Berlin is 26 May 22:00 UTC (CEST, UTC+2).
        assert_eq!(p.training_start.to_rfc3339(), "2025-05-26T22:00:00+00:00");
        // On time until 27 May 00:00 Berlin, exclusive: the whole of 26 May.
        assert_eq!(p.objections_end.to_rfc3339(), "2025-05-26T22:00:00+00:00");
        assert_eq!(p.deadline_display(), "26 May 2025, 23:59:59 (Europe/Berlin)");
        assert!(p.admits(Platform::Facebook, Kind::Reel));
        assert!(p.admits(Platform::Instagram, Kind::ProfilePicture));
        assert!(!p.admits(Platform::Facebook, Kind::PrivateMessage));
        assert_eq!(p.kinds_for(Platform::Whatsapp), vec![Kind::AiChat]);
        assert_eq!(p.assistant_chats, AssistantChats::Train);
        assert_eq!(p.late_objections, LateObjections::KeepTrained);
        assert_eq!(p.min_age, 18);
        assert_eq!(p.regions.len(), 30, "27 EU states plus IS, LI, NO");
        for c in ["DE", "FR", "IS", "LI", "NO", "CY"] {
            assert!(p.regions.contains(c), "{c}");
        }
        for c in ["CH", "GB", "US"] {
            assert!(!p.regions.contains(c), "{c}");
        }
    }

    #[test]
    fn strict_excludes_assistant_chats_and_unlearns() {
        let p = Policy::preset("strict").unwrap();
        assert_eq!(p.assistant_chats, AssistantChats::Exclude);
        assert_eq!(p.late_objections, LateObjections::Unlearn);
    }

    #[test]
    fn private_messages_can_never_be_admitted() {
        let text = with(
            "whatsapp = [\"ai_chat\"]",
            "whatsapp = [\"ai_chat\", \"private_message\"]",
        );
        let e = Policy::from_toml(&text, "p.toml").unwrap_err();
        assert!(e.message.contains("private_message may never be admitted"), "{e}");
        assert!(e.to_string().starts_with("policy p.toml:"), "{e}");
    }

    #[test]
    fn audiences_cannot_be_widened_by_an_extra_field() {
        let text = format!("audiences = [\"friends\", \"e2e\"]\n{STRICT}");
        let e = Policy::from_toml(&text, "p.toml").unwrap_err();
        assert!(e.message.contains("unknown field `audiences`"), "{e}");
    }

    #[test]
    fn unknown_kind_names_the_value_and_line() {
        let text = with("whatsapp = [\"ai_chat\"]", "whatsapp = [\"voice_note\"]");
        let e = Policy::from_toml(&text, "p.toml").unwrap_err();
        assert!(e.message.contains("unknown kind \"voice_note\""), "{e}");
        assert!(e.message.contains("line"), "{e}");
    }

    #[test]
    fn minors_and_bad_regions_and_times_are_rejected() {
        let e = Policy::from_toml(&with("min_age = 18", "min_age = 13"), "p").unwrap_err();
        assert!(e.message.contains("min_age"), "{e}");
        let e = Policy::from_toml(&with("\"DE\",", "\"de\","), "p").unwrap_err();
        assert!(e.message.contains("\"de\""), "{e}");
        let e = Policy::from_toml(&with("2025-05-27T00:00:00", "27.05.2025"), "p").unwrap_err();
        assert!(e.message.contains("training_start"), "{e}");
        let e = Policy::from_toml(&with("Europe/Berlin", "Mars/Olympus"), "p").unwrap_err();
        assert!(e.message.contains("Mars/Olympus"), "{e}");
    }

    fn berlin(s: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").unwrap();
        chrono_tz::Europe::Berlin
            .from_local_datetime(&naive)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_last_second_of_the_deadline_day_is_on_time_to_its_end() {
        let old_form = with(
            "objection_deadline = \"2025-05-26\"",
            "objection_deadline = \"2025-05-26T23:59:59\"",
        );
        let offset = with(
            "objection_deadline = \"2025-05-26\"",
            "objection_deadline = \"2025-05-26T23:59:59.250+02:00\"",
        );
        for text in [STRICT.to_string(), old_form, offset] {
            let p = Policy::from_toml(&text, "p").unwrap();
            assert!(!p.is_late(berlin("2025-05-26T23:59:59")), "{text}");
            assert!(!p.is_late(berlin("2025-05-26T23:59:59.400")));
            assert!(!p.is_late(berlin("2025-05-26T23:59:59.999999")));
            assert!(p.is_late(berlin("2025-05-27T00:00:00.000")));
            assert!(p.is_late(berlin("2025-05-27T00:00:00.000001")));
            assert_eq!(p.objections_end, berlin("2025-05-27T00:00:00"));
            assert_eq!(p.deadline_display(), "26 May 2025, 23:59:59 (Europe/Berlin)");
        }
    }

    #[test]
    fn a_deadline_must_end_by_the_training_start() {
        // Ending at the training start is allowed; a second later is not.
        let text = with(
            "objection_deadline = \"2025-05-26\"",
            "objection_deadline = \"2025-05-27\"",
        );
        let e = Policy::from_toml(&text, "p").unwrap_err();
        assert!(e.message.contains("objection_deadline"), "{e}");
        let text = with(
            "objection_deadline = \"2025-05-26\"",
            "objection_deadline = \"2025-05-27T00:00:00\"",
        );
        assert!(Policy::from_toml(&text, "p").is_err());
        let text = with(
            "objection_deadline = \"2025-05-26\"",
            "objection_deadline = \"26.05.2025\"",
        );
        let e = Policy::from_toml(&text, "p").unwrap_err();
        assert!(e.message.contains("YYYY-MM-DD"), "{e}");
        let text = with(
            "objection_deadline = \"2025-05-26\"",
            "objection_deadline = \"+262143-12-31\"",
        );
        assert!(Policy::from_toml(&text, "p").is_err(), "out of range, no panic");
    }

    #[test]
    fn the_sha256_identifies_the_text() {
        let a = Policy::from_toml(STRICT, "a").unwrap();
        let b = Policy::from_toml(&format!("{STRICT}\n# comment\n"), "b").unwrap();
        assert_ne!(a.sha256, b.sha256);
        assert_eq!(a.sha256.len(), 64);
    }
}
