//! veto-lm: a real language model that trains on CPU in minutes, sharded so
//! that a late objection is honoured by retraining only the shards that held
//! the person's data (SISA: Bourtoule et al., "Machine Unlearning", IEEE S&P
//! 2021).
//!
//! * [`tokenizer`]: a fixed byte-level tokenizer. It is never trained, so no
//!   rare name can enter a vocabulary.
//! * [`kn`]: interpolated modified Kneser-Ney n-gram models. A model keeps
//!   raw integer counts only; continuation counts and discounts are derived
//!   from them deterministically, so a model is a pure function of its
//!   shard's text and serialises canonically (same data, same bytes, same
//!   hash).
//! * [`ensemble`]: the normalised mixture of the shard models.
//! * [`trainer`]: the pluggable trainer interface; unlearning is written
//!   against it, not against Kneser-Ney.
//! * [`canary`]: exposure of planted secrets (Carlini et al., "The Secret
//!   Sharer", USENIX Security 2019).
//! * [`membership`]: membership inference (loss, Min-K% Prob), MUSE's
//!   PrivLeak and VerbMem.
//!
//! Architecture invariant: veto-lm does no I/O; callers hand it texts and
//! bytes.

pub mod canary;
pub mod ensemble;
pub mod kn;
pub mod membership;
pub mod tokenizer;
pub mod trainer;

pub use ensemble::Ensemble;
pub use kn::{KnModel, KneserNey};
pub use trainer::{LanguageModel, Trainer};

/// Errors from loading a serialised model.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("not a {expected} model file")]
    Format { expected: &'static str },
    #[error("model file is truncated or corrupt: {0}")]
    Corrupt(String),
}
