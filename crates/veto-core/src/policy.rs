//! The declarative policy: which content a build may use, from when, and how
//! objections and redaction are handled. Loaded from TOML and validated before
//! any data is touched; two presets ship with veto.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
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
}

/// A validated policy. Construct it with [`Policy::from_toml`] or
/// [`Policy::preset`]; every field has passed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub name: String,
    pub description: String,
    pub timezone: Tz,
    pub training_start: DateTime<Utc>,
    pub objection_deadline: DateTime<Utc>,
    /// For each platform, the kinds it may contribute (bit `Kind::code`).
    scope: [u16; 3],
    pub assistant_chats: AssistantChats,
    pub min_age: u32,
    /// ISO 3166-1 alpha-2 codes; empty means every region.
    pub regions: BTreeSet<String>,
    pub late_objections: LateObjections,
    pub redaction: RedactionSwitches,
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
        let objection_deadline = parse_policy_time(&file.objection_deadline, timezone)
            .map_err(|m| err(format!("field `objection_deadline`: {m}")))?;
        if objection_deadline >= training_start {
            return Err(err(format!(
                "field `objection_deadline` ({objection_deadline}) must be before `training_start` ({training_start})"
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
            objection_deadline,
            scope,
            assistant_chats: file.assistant_chats,
            min_age: file.min_age,
            regions,
            late_objections: file.late_objections,
            redaction: file.redaction,
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

    /// Whether an objection filed at `filed_at` came after the deadline.
    pub fn is_late(&self, filed_at: DateTime<Utc>) -> bool {
        filed_at > self.objection_deadline
    }
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
        assert_eq!(p.objection_deadline.to_rfc3339(), "2025-05-26T21:59:59+00:00");
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

    #[test]
    fn the_sha256_identifies_the_text() {
        let a = Policy::from_toml(STRICT, "a").unwrap();
        let b = Policy::from_toml(&format!("{STRICT}\n# comment\n"), "b").unwrap();
        assert_ne!(a.sha256, b.sha256);
        assert_eq!(a.sha256.len(), 64);
    }
}
