//! veto-portal: where a person objects (GDPR Art. 21) and later checks what
//! happened to their data — the form in the logged-in area done right.
//!
//! Layout after zero2prod: [`configuration`] (settings), [`startup`] (build
//! the app, bind, serve, shut down gracefully), [`telemetry`] (request
//! logs without secrets, Prometheus metrics), [`routes`] (pages and the JSON
//! API), plus [`auth`] (the authentication interface and local argon2id
//! accounts), [`csrf`], [`i18n`] (German by default, English), [`writer`]
//! (group commit of objections) and [`state`].
//!
//! Architecture invariant: the portal never decides eligibility and never
//! reads a snapshot's private files except for the logged-in person's own
//! rows; every objection is durable (fsynced) before the portal says yes.

pub mod auth;
pub mod configuration;
pub mod csrf;
pub mod error;
pub mod i18n;
pub mod mfa;
pub mod origin;
pub mod password;
pub mod receipts;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod throttle;
pub mod writer;
