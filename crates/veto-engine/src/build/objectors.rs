//! Whose names the build redacts in other people's text: every person with
//! an objection in force at the build's as-of time (their display name and
//! handles, from the persons table) and every person without an account
//! whose verified objection is in force (the subject's name, handles,
//! emails and phones). `veto_core::mentions` does the matching.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use veto_core::mentions::{IdKind, Identifier, ObjectorNames};
use veto_core::{Objection, Subject};

use crate::export::Named;

/// The users whose objections are in force at `as_of` (any scope: a name
/// is not on one platform only).
pub(super) fn objecting_users(objections: &[Objection], as_of: DateTime<Utc>) -> HashSet<String> {
    objections
        .iter()
        .filter(|o| o.in_force_at(as_of))
        .map(|o| o.person_id.clone())
        .collect()
}

/// One automaton over every objector's identifiers. Owners: the users in
/// `named`'s order, then the third parties in theirs.
pub(super) fn objector_names(named: &[Named], third_parties: &[Subject]) -> ObjectorNames {
    let mut ids = Vec::new();
    let mut push = |text: &str, kind, owner: usize| {
        ids.push(Identifier {
            text: text.to_string(),
            kind,
            owner: owner as u32,
        })
    };
    for (owner, n) in named.iter().enumerate() {
        if let Some(name) = &n.display_name {
            push(name, IdKind::Name, owner);
        }
        for h in &n.handles {
            push(h, IdKind::Handle, owner);
        }
    }
    for (i, s) in third_parties.iter().enumerate() {
        let owner = named.len() + i;
        if let Some(name) = &s.display_name {
            push(name, IdKind::Name, owner);
        }
        for h in &s.handles {
            push(h, IdKind::Handle, owner);
        }
        for e in &s.emails {
            push(e, IdKind::Email, owner);
        }
        for p in &s.phones {
            push(p, IdKind::Phone, owner);
        }
    }
    ObjectorNames::new(ids, named.len() + third_parties.len())
}
