//! The domain vocabulary: platforms, kinds of content, audiences, objections
//! and the reasons an item is excluded from training.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Declares a closed vocabulary: a `Copy` enum with its wire names, parsing
/// that names every accepted value in its error, and serde support.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name used in exports, policies and outputs.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Position in [`Self::ALL`]; stable, used as a compact code.
            pub fn code(self) -> u8 {
                self as u8
            }

            /// The value with the given [`Self::code`].
            pub fn from_code(code: u8) -> Option<Self> {
                Self::ALL.get(code as usize).copied()
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} {:?} (expected one of: {})",
                        stringify!($name).to_lowercase(),
                        other,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

vocabulary! {
    /// The service an item was published on. One person (one Accounts Center
    /// identity) can have content on all three.
    Platform { Facebook = "facebook", Instagram = "instagram", Whatsapp = "whatsapp" }
}

vocabulary! {
    /// What an item is.
    Kind {
        Name = "name",
        Username = "username",
        ProfilePicture = "profile_picture",
        Post = "post",
        Photo = "photo",
        Video = "video",
        Story = "story",
        Reel = "reel",
        Comment = "comment",
        AiChat = "ai_chat",
        PrivateMessage = "private_message",
    }
}

vocabulary! {
    /// Who could see an item. `Assistant` is a conversation with the
    /// platform's AI assistant; `E2e` an end-to-end encrypted chat.
    Audience {
        Public = "public",
        Friends = "friends",
        OnlyMe = "only_me",
        E2e = "e2e",
        Assistant = "assistant",
    }
}

vocabulary! {
    /// What an objection covers: every account in the Accounts Center, or
    /// one platform.
    ObjectionScope { All = "all", Facebook = "facebook", Instagram = "instagram", Whatsapp = "whatsapp" }
}

vocabulary! {
    /// How an objection reached the operator.
    Channel { Web = "web", App = "app", Email = "email", Letter = "letter", Api = "api", Gpc = "gpc" }
}

vocabulary! {
    /// Why an item is not in a snapshot. The order is the order in which the
    /// rules are checked; an item gets the reason of the first rule it fails.
    Reason {
        NotYetCreated = "not_yet_created",
        Deleted = "deleted",
        OutOfScope = "out_of_scope",
        NotPublic = "not_public",
        AgeUnknown = "age_unknown",
        Minor = "minor",
        OutOfRegion = "out_of_region",
        Objection = "objection",
        TaggedMinor = "tagged_minor",
        TaggedObjector = "tagged_objector",
        CreatorOptOut = "creator_opt_out",
    }
}

impl ObjectionScope {
    /// Whether an objection with this scope covers content on `platform`.
    pub fn covers(self, platform: Platform) -> bool {
        matches!(
            (self, platform),
            (ObjectionScope::All, _)
                | (ObjectionScope::Facebook, Platform::Facebook)
                | (ObjectionScope::Instagram, Platform::Instagram)
                | (ObjectionScope::Whatsapp, Platform::Whatsapp)
        )
    }
}

impl Kind {
    /// Checks that an item's kind and audience fit together, as the export
    /// format requires: a private message is never public nor an assistant
    /// chat, `e2e` describes only private messages, and assistant
    /// conversations are exactly the `ai_chat` items.
    pub fn check_audience(self, audience: Audience) -> Result<(), String> {
        let ok = match (self, audience) {
            (Kind::PrivateMessage, Audience::Public | Audience::Assistant) => false,
            (Kind::PrivateMessage, _) => true,
            (_, Audience::E2e) => false,
            (Kind::AiChat, a) => a == Audience::Assistant,
            (_, Audience::Assistant) => false,
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "a {self} item cannot have audience {audience:?}",
                audience = audience.as_str()
            ))
        }
    }
}

/// An objection (GDPR Art. 21) on file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objection {
    pub objection_id: String,
    pub person_id: String,
    pub scope: ObjectionScope,
    pub filed_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub channel: Channel,
}

impl Objection {
    /// Whether this objection is in force at instant `t`: filed at or before
    /// `t` and not withdrawn at or before `t`.
    pub fn in_force_at(&self, t: DateTime<Utc>) -> bool {
        self.filed_at <= t && self.withdrawn_at.is_none_or(|w| w > t)
    }

    /// Checks the fields a parser cannot: ids present, withdrawal not before
    /// filing. Returns the offending field and a message.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.objection_id.trim().is_empty() {
            return Err(("objection_id", "must not be empty".into()));
        }
        if self.person_id.trim().is_empty() {
            return Err(("person_id", "must not be empty".into()));
        }
        if let Some(w) = self.withdrawn_at
            && w < self.filed_at
        {
            return Err(("withdrawn_at", format!("{w} is before filed_at {}", self.filed_at)));
        }
        Ok(())
    }
}

/// A person without an account (or not known by one), as a third-party
/// objection names them: how they appear in other people's content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub handles: Vec<String>,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub phones: Vec<String>,
}

impl Subject {
    /// Whether it names the person at all.
    pub fn is_empty(&self) -> bool {
        self.display_name.as_deref().is_none_or(|n| n.trim().is_empty())
            && self.handles.is_empty()
            && self.emails.is_empty()
            && self.phones.is_empty()
    }
}

/// An objection by a person without an account, naming them by `subject`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectObjection {
    pub objection_id: String,
    pub subject: Subject,
    pub scope: ObjectionScope,
    pub filed_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub channel: Channel,
}

impl SubjectObjection {
    /// In force at `t`, as [`Objection::in_force_at`].
    pub fn in_force_at(&self, t: DateTime<Utc>) -> bool {
        self.filed_at <= t && self.withdrawn_at.is_none_or(|w| w > t)
    }
}

impl Subject {
    /// Checks what a parser cannot: some identifier, emails with an `@`,
    /// phones with at least six digits, nothing empty. Returns the field
    /// (as `subject.<name>`) and a message.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.is_empty() {
            return Err((
                "subject",
                "names nobody: give a display_name, handles, emails or phones".into(),
            ));
        }
        if self.handles.iter().any(|h| h.trim_start_matches('@').trim().is_empty()) {
            return Err(("subject.handles", "a handle is empty".into()));
        }
        if let Some(e) = self.emails.iter().find(|e| !e.contains('@') || e.trim() != e.as_str()) {
            return Err(("subject.emails", format!("{e:?} is not an email address")));
        }
        if let Some(p) = self
            .phones
            .iter()
            .find(|p| p.chars().filter(char::is_ascii_digit).count() < 6)
        {
            return Err(("subject.phones", format!("{p:?} has fewer than six digits")));
        }
        Ok(())
    }
}

/// A third-party objection in force, as a build receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThirdParty {
    pub objection_id: String,
    pub subject: Subject,
    /// Whether an earlier build has screened it (or an operator approved
    /// it). An unscreened one is counted first and waits for an operator
    /// when its identifiers match items of more distinct authors than the
    /// policy's `third_party_review_threshold`.
    pub screened: bool,
}

/// What a build found when it screened a third-party objection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Screening {
    pub objection_id: String,
    /// Distinct authors whose items name the subject (counted up to the
    /// threshold plus one).
    pub authors: u64,
    pub threshold: u64,
    /// Over the threshold: not applied; it waits in the review queue.
    pub held: bool,
}
