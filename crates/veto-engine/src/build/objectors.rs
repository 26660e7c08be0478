//! Whose names the build redacts in other people's text: every person with
//! an objection in force at the build's as-of time (their display name and
//! handles, from the persons table) and every person without an account
//! whose verified objection is in force (the subject's name, handles,
//! emails and phones). `veto_core::mentions` does the matching.
//!
//! A third-party objection the build has not seen before is screened first:
//! anyone can type a famous name into the non-user form, so one whose
//! identifiers appear in items of more distinct authors than the policy's
//! `third_party_review_threshold` is not applied; it waits for an operator
//! (`veto objections review`). The screening reads the items' authors and
//! texts once, with an automaton over the new objections only.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{SessionContext, cast, col};
use futures::StreamExt;
use veto_core::mentions::{IdKind, Identifier, ObjectorNames};
use veto_core::{Objection, Screening, Subject, ThirdParty};

use crate::error::BuildError;
use crate::export::Named;

/// The users whose objections are in force at `as_of` (any scope: a name
/// is not on one platform only).
pub(super) fn objecting_users(objections: &[Objection], as_of: DateTime<Utc>) -> datafusion::common::HashSet<String> {
    objections
        .iter()
        .filter(|o| o.in_force_at(as_of))
        .map(|o| o.person_id.clone())
        .collect()
}

/// Whose mentions a count belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Objector {
    /// A user, by person_id.
    User(String),
    /// A person without an account, by objection id.
    ThirdParty(String),
}

fn subject_ids(s: &Subject, owner: u32, ids: &mut Vec<Identifier>) {
    let mut push = |text: &str, kind| {
        ids.push(Identifier {
            text: text.to_string(),
            kind,
            owner,
        })
    };
    if let Some(name) = &s.display_name {
        push(name, IdKind::Name);
    }
    for h in &s.handles {
        push(h, IdKind::Handle);
    }
    for e in &s.emails {
        push(e, IdKind::Email);
    }
    for p in &s.phones {
        push(p, IdKind::Phone);
    }
}

/// One automaton over every objector's identifiers. Owners: the users in
/// `named`'s order, then the third parties in theirs; [`owners`] lists them.
pub(super) fn objector_names(named: &[Named], third_parties: &[&ThirdParty]) -> ObjectorNames {
    let mut ids = Vec::new();
    for (owner, n) in named.iter().enumerate() {
        let user = Subject {
            display_name: n.display_name.clone(),
            handles: n.handles.clone(),
            ..Default::default()
        };
        subject_ids(&user, owner as u32, &mut ids);
    }
    for (i, t) in third_parties.iter().enumerate() {
        subject_ids(&t.subject, (named.len() + i) as u32, &mut ids);
    }
    ObjectorNames::new(ids, named.len() + third_parties.len())
}

/// The owners of [`objector_names`], in its order.
pub(super) fn owners(named: &[Named], third_parties: &[&ThirdParty]) -> Vec<Objector> {
    named
        .iter()
        .map(|n| Objector::User(n.person_id.clone()))
        .chain(
            third_parties
                .iter()
                .map(|t| Objector::ThirdParty(t.objection_id.clone())),
        )
        .collect()
}

/// The compiled names, their owners, and each user owner's row in the
/// persons table (the first `users.len()` owners are users).
pub(super) struct Compiled {
    pub names: ObjectorNames,
    pub owners: Vec<Objector>,
    pub users: Vec<u32>,
}

/// Compiles [`objector_names`] and [`owners`] on a thread of its own, over
/// the third parties not `held` by a screening.
pub(super) fn compile(
    named: Vec<Named>,
    third_parties: Vec<ThirdParty>,
    screenings: &[Screening],
) -> std::thread::JoinHandle<Compiled> {
    let held: HashSet<String> = screenings
        .iter()
        .filter(|s| s.held)
        .map(|s| s.objection_id.clone())
        .collect();
    std::thread::spawn(move || {
        // A held objection is held for its name and handles only: a
        // confirmed address or number is nobody else's and stays redacted.
        let third_parties: Vec<ThirdParty> = third_parties
            .into_iter()
            .map(|mut t| {
                if held.contains(&t.objection_id) {
                    t.subject.display_name = None;
                    t.subject.handles.clear();
                }
                t
            })
            .filter(|t| !t.subject.is_empty())
            .collect();
        let applied: Vec<&ThirdParty> = third_parties.iter().collect();
        Compiled {
            names: objector_names(&named, &applied),
            owners: owners(&named, &applied),
            users: named.iter().map(|n| n.index).collect(),
        }
    })
}

/// The objectors' automaton on its way: compiling on a thread of its own
/// while the items are made ready, or, when some third party is new,
/// waiting for the screening that decides which of them apply.
pub(super) enum Names {
    Compiling(std::thread::JoinHandle<Compiled>),
    Waiting(Vec<Named>),
}

impl Names {
    pub(super) fn start(named: Vec<Named>, third_parties: &[ThirdParty]) -> Names {
        match third_parties.iter().all(|t| t.screened) {
            true => Names::Compiling(compile(named, third_parties.to_vec(), &[])),
            false => Names::Waiting(named),
        }
    }

    /// The compiling automaton, after screening the new third parties
    /// against the `items` table of `ctx` if there are any.
    pub(super) async fn after_screening(
        self,
        ctx: &SessionContext,
        third_parties: &[ThirdParty],
        threshold: u64,
    ) -> Result<(std::thread::JoinHandle<Compiled>, Vec<Screening>), BuildError> {
        match self {
            Names::Compiling(job) => Ok((job, Vec::new())),
            Names::Waiting(named) => {
                let screenings = screen(ctx, third_parties, threshold).await?;
                tracing::info!(screened = screenings.len(), "third parties screened");
                Ok((compile(named, third_parties.to_vec(), &screenings), screenings))
            }
        }
    }
}

/// After the query: each objecting user's mentions into the tally (for the
/// lookup pages), and the mentions per objector with any.
pub(super) fn settle(
    names: &ObjectorNames,
    owners: Vec<Objector>,
    users: &[u32],
    tally: &mut super::PersonTally,
) -> Vec<(Objector, u64)> {
    let per_owner = names.mentions_per_owner();
    for (&person, &n) in users.iter().zip(&per_owner) {
        tally.set_mentions(person, n);
    }
    owners.into_iter().zip(per_owner).filter(|(_, n)| *n > 0).collect()
}

/// Screens the objections not screened before against the `items` table
/// registered in `ctx`: how many distinct authors' items name each (counted
/// up to `threshold + 1`). An objection's own items do not exist (it has no
/// account), so every author counted is someone else.
pub(super) async fn screen(
    ctx: &SessionContext,
    third_parties: &[ThirdParty],
    threshold: u64,
) -> Result<Vec<Screening>, BuildError> {
    let new: Vec<&ThirdParty> = third_parties.iter().filter(|t| !t.screened).collect();
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = Vec::new();
    for (owner, t) in new.iter().enumerate() {
        subject_ids(&t.subject, owner as u32, &mut ids);
    }
    let names = ObjectorNames::new(ids, new.len());
    let cap = threshold.saturating_add(1) as usize;
    let mut authors: HashMap<u32, HashSet<String>> = HashMap::new();
    let utf8 = |c: &str| cast(col(c), DataType::Utf8);
    let items = ctx
        .table("items")
        .await?
        .select(vec![utf8("person_id"), utf8("text")])?;
    let mut stream = items.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let (persons, texts) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
        for row in 0..batch.num_rows() {
            if texts.is_null(row) || persons.is_null(row) {
                continue;
            }
            names.owners_in(texts.value(row), |owner| {
                let seen = authors.entry(owner).or_default();
                if seen.len() < cap {
                    seen.insert(persons.value(row).to_string());
                }
            });
        }
    }
    Ok(new
        .iter()
        .enumerate()
        .map(|(owner, t)| {
            let n = authors.get(&(owner as u32)).map_or(0, |a| a.len() as u64);
            Screening {
                objection_id: t.objection_id.clone(),
                authors: n,
                threshold,
                // 0 holds every one, even a name no item has yet.
                held: threshold == 0 || n > threshold,
            }
        })
        .collect())
}
