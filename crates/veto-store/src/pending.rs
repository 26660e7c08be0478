//! Late objections not yet unlearned: per model, the persons whose
//! objection applies now to items the model still holds, and since when.
//! GDPR Art. 12(3) gives a controller one month to act on an objection;
//! `veto unlearn --status`, the operator dashboard and the metrics read
//! this one list.
//!
//! It is read from the store alone (objections, lookup pages, the model's
//! recorded manifest), never from the snapshot's Parquet files, so the
//! dashboard can ask for it on every load. The decision is veto-core's:
//! [`may_apply_after`] picks the persons, [`objection_applies`] per platform
//! with included items decides.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use veto_core::Objection;
use veto_core::rules::{may_apply_after, objection_applies};

use crate::{Store, StoreError};

/// One person's data still in a model although their objection applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingUnlearning {
    pub model_id: String,
    pub person_ref: String,
    /// Items of the person the model still holds that the objection covers.
    pub items: u64,
    /// When the earliest objection that applies was filed: the clock of
    /// Art. 12(3) runs from it.
    pub filed_at: DateTime<Utc>,
    /// The snapshot's policy keeps late objectors in models already trained
    /// (`late_objections = keep_trained`): listed, but not due.
    pub kept_by_policy: bool,
}

impl Store {
    /// Every pending unlearning at `now`, oldest objection first.
    pub async fn pending_unlearnings(&self, now: DateTime<Utc>) -> Result<Vec<PendingUnlearning>, StoreError> {
        self.pending_unlearnings_of(now, None).await
    }

    /// [`Store::pending_unlearnings`] of one person (`person_ref`), or of
    /// everyone.
    pub async fn pending_unlearnings_of(
        &self,
        now: DateTime<Utc>,
        only: Option<&str>,
    ) -> Result<Vec<PendingUnlearning>, StoreError> {
        let secret = self.secret().await?;
        let mut out = Vec::new();
        for model in self.models().await? {
            let snap = self.snapshot(&model.snapshot_id).await?;
            let kept_by_policy = kept_by_policy(&snap.path);
            let unseen = match snap.objections_seq {
                Some(seq) => Some(self.objections_recorded_after(seq).await?),
                None => None,
            };
            let objections = self.objections_of_late_objectors(snap.as_of, unseen.as_ref()).await?;
            let mut by_person: BTreeMap<&str, Vec<&Objection>> = BTreeMap::new();
            for o in &objections {
                by_person.entry(o.person_id.as_str()).or_default().push(o);
            }
            let removed = removed_items(&model.manifest);
            for (person, objs) in by_person {
                let late_one = |o: &Objection| {
                    unseen.as_ref().is_none_or(|u| u.contains(&o.objection_id)) || may_apply_after(o, snap.as_of)
                };
                if !objs.iter().any(|o| late_one(o)) {
                    continue;
                }
                let person_ref = veto_core::hashing::person_ref(&secret, person);
                if only.is_some_and(|r| r != person_ref) {
                    continue;
                }
                let Some(p) = self
                    .lookup(&person_ref)
                    .await?
                    .into_iter()
                    .find(|r| r.snapshot_id == snap.snapshot_id)
                    .and_then(|r| r.person)
                else {
                    continue;
                };
                let owned: Vec<Objection> = objs.iter().map(|o| (*o).clone()).collect();
                let covered: u64 = p
                    .included_by_platform
                    .iter()
                    .filter(|(platform, _)| {
                        platform
                            .parse::<veto_core::Platform>()
                            .is_ok_and(|pl| objection_applies(&owned, pl, now))
                    })
                    .map(|(_, n)| n)
                    .sum();
                let still = covered.saturating_sub(removed.get(&person_ref).copied().unwrap_or(0));
                if still == 0 {
                    continue;
                }
                let filed_at = objs
                    .iter()
                    .filter(|o| late_one(o) && o.in_force_at(now))
                    .map(|o| o.filed_at)
                    .min()
                    .unwrap_or(now);
                out.push(PendingUnlearning {
                    model_id: model.model_id.clone(),
                    person_ref,
                    items: still,
                    filed_at,
                    kept_by_policy,
                });
            }
        }
        out.sort_by(|a, b| (a.filed_at, &a.model_id, &a.person_ref).cmp(&(b.filed_at, &b.model_id, &b.person_ref)));
        Ok(out)
    }
}

/// Items removed per person ref so far, from a recorded model.json
/// (`versions[].removed_person_refs` with `removed_items`).
fn removed_items(manifest: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(v) = serde_json::from_str::<serde_json::Value>(manifest) else {
        return out;
    };
    for version in v["versions"].as_array().into_iter().flatten() {
        let refs = version["removed_person_refs"].as_array().into_iter().flatten();
        let items = version["removed_items"].as_array().into_iter().flatten();
        if version["removed_items"].as_array().is_none_or(|a| a.is_empty()) {
            // A version made before veto kept the counts removed all the
            // person's covered items.
            for r in refs.filter_map(|r| r.as_str()) {
                out.insert(r.to_string(), u64::MAX);
            }
            continue;
        }
        for (r, n) in refs.zip(items) {
            if let (Some(r), Some(n)) = (r.as_str(), n.as_u64()) {
                let e = out.entry(r.to_string()).or_default();
                *e = e.saturating_add(n);
            }
        }
    }
    out
}

/// Whether the snapshot's policy file says late objectors stay in trained
/// models. An unreadable policy counts as "unlearn": the list then errs on
/// the side of showing work to do.
fn kept_by_policy(snapshot_path: &str) -> bool {
    let path = std::path::Path::new(snapshot_path).join("policy.toml");
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| veto_core::Policy::from_toml(&text, &path.display().to_string()).ok())
        .is_some_and(|p| p.late_objections == veto_core::policy::LateObjections::KeepTrained)
}
