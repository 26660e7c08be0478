//! Models on record: which snapshot each was trained on, its current
//! version, and who was unlearned from it when. Every change is also a
//! ledger entry, written in the same transaction.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use veto_core::time::{from_micros, to_micros};

use crate::operations::Operation;
use crate::{Store, StoreError, ledger};

/// A model as recorded.
#[derive(Clone, Debug)]
pub struct ModelRecord {
    pub model_id: String,
    pub snapshot_id: String,
    pub path: String,
    pub version: u32,
    pub trained_at: DateTime<Utc>,
    /// model.json of the current version.
    pub manifest: String,
}

/// How a model stands for one person.
#[derive(Clone, Debug)]
pub struct PersonModel {
    pub model: ModelRecord,
    /// Some((version, when)) if the person's data was unlearned.
    pub unlearned: Option<(u32, DateTime<Utc>)>,
}

fn record(r: &sqlx::any::AnyRow) -> Result<ModelRecord, StoreError> {
    Ok(ModelRecord {
        model_id: r.try_get("model_id")?,
        snapshot_id: r.try_get("snapshot_id")?,
        path: r.try_get("path")?,
        version: r.try_get::<i64, _>("version")? as u32,
        trained_at: from_micros(r.try_get("trained_at_us")?),
        manifest: r.try_get("manifest")?,
    })
}

impl Store {
    /// Records a newly trained model and its `model_trained` ledger entry,
    /// and moves `op` (the training) to its commit point, in one
    /// transaction. A model already on record is refused by name.
    pub async fn record_model(
        &self,
        m: &ModelRecord,
        ledger_payload: Value,
        op: Option<&mut Operation>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let existing: Option<String> = sqlx::query_scalar("SELECT path FROM models WHERE model_id = $1")
            .bind(&m.model_id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(path) = existing {
            return Err(StoreError::Refused(format!(
                "model {} is already on record (in {path}); nothing was written",
                m.model_id
            )));
        }
        sqlx::query("INSERT INTO models (model_id, snapshot_id, path, version, trained_at_us, manifest) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&m.model_id)
            .bind(&m.snapshot_id)
            .bind(&m.path)
            .bind(i64::from(m.version))
            .bind(to_micros(m.trained_at))
            .bind(&m.manifest)
            .execute(&mut *tx)
            .await?;
        ledger::append(&mut tx, "model_trained", ledger_payload).await?;
        if let Some(op) = op.as_deref() {
            Store::operation_recorded(&mut tx, op, &[]).await?;
        }
        tx.commit().await?;
        if let Some(op) = op {
            Store::operation_committed(op, Vec::new());
        }
        Ok(())
    }

    /// Records a new version after unlearning `person_refs`, with its
    /// `model_unlearned` ledger entry, and moves `op` to its commit point,
    /// in one transaction. The model's `model.json` (`manifest_file`) is
    /// derived from the record: the operation rewrites it after the commit,
    /// and so does a recovery if the command dies first. The version must
    /// follow the recorded one.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_unlearning(
        &self,
        model_id: &str,
        version: u32,
        manifest: &str,
        person_refs: &[String],
        at: DateTime<Utc>,
        ledger_payload: Value,
        op: &mut Operation,
        manifest_file: &std::path::Path,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE models SET version = $1, manifest = $2 WHERE model_id = $3 AND version = $4")
            .bind(i64::from(version))
            .bind(manifest)
            .bind(model_id)
            .bind(i64::from(version) - 1)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Internal(format!(
                "model {model_id}: version {version} does not follow the recorded one"
            )));
        }
        for r in person_refs {
            sqlx::query(
                "INSERT INTO model_unlearning (model_id, person_ref, version, done_at_us) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (model_id, person_ref) DO NOTHING",
            )
            .bind(model_id)
            .bind(r)
            .bind(i64::from(version))
            .bind(to_micros(at))
            .execute(&mut *tx)
            .await?;
        }
        ledger::append(&mut tx, "model_unlearned", ledger_payload).await?;
        let finish = vec![(manifest_file.to_path_buf(), manifest.to_string())];
        Store::operation_recorded(&mut tx, op, &finish).await?;
        tx.commit().await?;
        Store::operation_committed(op, finish);
        Ok(())
    }

    /// Every model on record, oldest first.
    pub async fn models(&self) -> Result<Vec<ModelRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM models ORDER BY trained_at_us, model_id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(record).collect()
    }

    /// One model by id (or a unique id prefix).
    pub async fn model(&self, id: &str) -> Result<ModelRecord, StoreError> {
        // A prefix compared as text, not LIKE: the id is user input.
        let rows = sqlx::query("SELECT * FROM models WHERE substr(model_id, 1, length($1)) = $1")
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        match rows.as_slice() {
            [row] => record(row),
            _ => Err(StoreError::UnknownModel(id.to_string())),
        }
    }

    /// Every model trained on a snapshot that included the person, with
    /// whether their data was unlearned.
    pub async fn models_for_person(&self, person_ref: &str) -> Result<Vec<PersonModel>, StoreError> {
        let with_content: std::collections::HashSet<String> = self
            .lookup(person_ref)
            .await?
            .into_iter()
            .filter(|r| r.person.as_ref().is_some_and(|p| p.included() > 0))
            .map(|r| r.snapshot_id)
            .collect();
        let rows = sqlx::query(
            "SELECT m.*, u.version AS unlearned_version, u.done_at_us
             FROM models m
             LEFT JOIN model_unlearning u ON u.model_id = m.model_id AND u.person_ref = $1
             ORDER BY m.trained_at_us, m.model_id",
        )
        .bind(person_ref)
        .fetch_all(self.pool())
        .await?;
        let mut models = Vec::new();
        for r in &rows {
            let model = record(r)?;
            if !with_content.contains(&model.snapshot_id) {
                continue;
            }
            let unlearned = match r.try_get::<Option<i64>, _>("unlearned_version")? {
                Some(v) => Some((v as u32, from_micros(r.try_get("done_at_us")?))),
                None => None,
            };
            models.push(PersonModel { model, unlearned });
        }
        Ok(models)
    }
}
