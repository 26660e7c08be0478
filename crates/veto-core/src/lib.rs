//! veto-core: the domain of veto and every rule it enforces, as pure functions.
//!
//! This crate defines what a person, an item and an objection are
//! ([`model`]), what a policy may say ([`policy`]), the one eligibility
//! decision every path of veto calls ([`rules::evaluate`]), the redaction of
//! personal data in text ([`redact`]) and the hashes that make a snapshot
//! checkable ([`hashing`]), and the rules of the transparency ledger
//! ([`ledger`], over [`canonical`] JSON).
//!
//! Architecture invariant: veto-core does no I/O. It reads no files, opens no
//! sockets and keeps no global state, so the embedded build, a distributed
//! build, the lookup and the portal all get exactly the same answer.

pub mod canonical;
pub mod certificate;
pub mod country;
pub mod hashing;
pub mod ledger;
pub mod mentions;
pub mod model;
pub mod policy;
pub mod receipt;
pub mod redact;
pub mod rules;
pub mod time;
pub mod usage;

pub use model::{
    Audience, Channel, Kind, Objection, ObjectionScope, Platform, Reason, Screening, Subject, SubjectObjection,
    ThirdParty,
};
pub use policy::{AssistantChats, LateObjections, Policy, PolicyError};
pub use rules::{ItemFacts, PersonFacts, TaggedFacts, evaluate, evaluate_tagged};
pub use usage::Usage;
