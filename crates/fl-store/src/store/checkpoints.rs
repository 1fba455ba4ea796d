//! Checkpoints: the model blob and engine state, saved atomically with the round's completion.

use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::rounds::{fk_not_found, upsert_round};
use super::{check_json, check_round};
use crate::{
    Checkpoint, CheckpointInfo, NewCheckpoint, RoundRecord, RoundStatus, Store, StoreError, now_ms,
};

/// Columns of a full checkpoint (a macro so `concat!` keeps the SQL `&'static`).
macro_rules! full_columns {
    () => {
        "run_id, round, model, sha256, strategy_state_json, ledger_json, engine_state_json, \
         created_at"
    };
}

impl Store {
    /// In ONE transaction: records `round` with status [`RoundStatus::Completed`] (whatever
    /// `round.status` says), stores the checkpoint for `(round.run_id, round.round)` (replacing
    /// one saved before for that round) and bumps the run's `updated_at`. A failure anywhere
    /// leaves neither the completed round nor the checkpoint behind.
    pub async fn save_checkpoint(
        &self,
        round: &RoundRecord,
        ckpt: NewCheckpoint<'_>,
    ) -> Result<CheckpointInfo, StoreError> {
        check_round(round.round)?;
        if ckpt.model.is_empty() {
            return Err(StoreError::InvalidInput {
                field: "model",
                reason: "empty model bytes".into(),
            });
        }
        check_json("strategy_state_json", ckpt.strategy_state_json)?;
        check_json("ledger_json", ckpt.ledger_json)?;
        check_json("engine_state_json", ckpt.engine_state_json)?;
        let size_bytes = i64::try_from(ckpt.model.len()).map_err(|_| StoreError::InvalidInput {
            field: "model",
            reason: "larger than i64::MAX bytes".into(),
        })?;
        let sha256 = sha256_hex(ckpt.model);
        let created_at = now_ms();

        let mut tx = self.pool.begin().await?;
        upsert_round(&mut *tx, round, RoundStatus::Completed).await?;
        sqlx::query(
            "INSERT INTO checkpoints (run_id, round, model, size_bytes, sha256, \
             strategy_state_json, ledger_json, engine_state_json, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (run_id, round) DO UPDATE SET model = excluded.model, \
             size_bytes = excluded.size_bytes, sha256 = excluded.sha256, \
             strategy_state_json = excluded.strategy_state_json, \
             ledger_json = excluded.ledger_json, engine_state_json = excluded.engine_state_json, \
             created_at = excluded.created_at",
        )
        .bind(&round.run_id)
        .bind(round.round)
        .bind(ckpt.model)
        .bind(size_bytes)
        .bind(&sha256)
        .bind(ckpt.strategy_state_json)
        .bind(ckpt.ledger_json)
        .bind(ckpt.engine_state_json)
        .bind(created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            fk_not_found(e, || {
                format!("round {} of run `{}`", round.round, round.run_id)
            })
        })?;
        sqlx::query("UPDATE runs SET updated_at = $2 WHERE id = $1")
            .bind(&round.run_id)
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(CheckpointInfo {
            run_id: round.run_id.clone(),
            round: round.round,
            size_bytes,
            sha256,
            created_at,
        })
    }

    /// The checkpoint with the highest round, its model verified against the recorded SHA-256
    /// ([`StoreError::CorruptCheckpoint`] on mismatch). `None` if the run has no checkpoint.
    pub async fn latest_checkpoint(&self, run_id: &str) -> Result<Option<Checkpoint>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            full_columns!(),
            " FROM checkpoints WHERE run_id = $1 ORDER BY round DESC LIMIT 1"
        ))
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| checkpoint_from_row(&r))
        .transpose()
    }

    /// The checkpoint of one round, verified like [`Store::latest_checkpoint`].
    pub async fn get_checkpoint(
        &self,
        run_id: &str,
        round: i64,
    ) -> Result<Option<Checkpoint>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            full_columns!(),
            " FROM checkpoints WHERE run_id = $1 AND round = $2"
        ))
        .bind(run_id)
        .bind(round)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| checkpoint_from_row(&r))
        .transpose()
    }

    /// Only the model bytes of one round's checkpoint, verified.
    /// [`StoreError::NotFound`] if there is none.
    pub async fn load_checkpoint_model(
        &self,
        run_id: &str,
        round: i64,
    ) -> Result<Vec<u8>, StoreError> {
        let row =
            sqlx::query("SELECT model, sha256 FROM checkpoints WHERE run_id = $1 AND round = $2")
                .bind(run_id)
                .bind(round)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("checkpoint of run `{run_id}` round {round}"))
                })?;
        let model: Vec<u8> = row.try_get("model")?;
        verify(run_id, round, &model, &row.try_get::<String, _>("sha256")?)?;
        Ok(model)
    }

    /// The run's checkpoints without their models, in round order.
    pub async fn list_checkpoints(&self, run_id: &str) -> Result<Vec<CheckpointInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT run_id, round, size_bytes, sha256, created_at FROM checkpoints \
             WHERE run_id = $1 ORDER BY round",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CheckpointInfo {
                    run_id: r.try_get("run_id")?,
                    round: r.try_get("round")?,
                    size_bytes: r.try_get("size_bytes")?,
                    sha256: r.try_get("sha256")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn verify(run_id: &str, round: i64, model: &[u8], expected: &str) -> Result<(), StoreError> {
    let actual = sha256_hex(model);
    if actual != expected {
        return Err(StoreError::CorruptCheckpoint {
            run_id: run_id.to_string(),
            round,
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

fn checkpoint_from_row(r: &AnyRow) -> Result<Checkpoint, StoreError> {
    let ck = Checkpoint {
        run_id: r.try_get("run_id")?,
        round: r.try_get("round")?,
        model: r.try_get("model")?,
        sha256: r.try_get("sha256")?,
        strategy_state_json: r.try_get("strategy_state_json")?,
        ledger_json: r.try_get("ledger_json")?,
        engine_state_json: r.try_get("engine_state_json")?,
        created_at: r.try_get("created_at")?,
    };
    verify(&ck.run_id, ck.round, &ck.model, &ck.sha256)?;
    Ok(ck)
}
