//! Rounds, participations and the privacy ledger.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use super::{check_finite, check_id, check_json, check_round, finite_or_none};
use crate::{LedgerEntry, Participation, RoundRecord, RoundStatus, Store, StoreError};

/// Totals over a run's rounds, each round counted once however often it was recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTotals {
    /// Rounds recorded (any status).
    pub rounds: i64,
    /// Rounds with status completed.
    pub rounds_completed: i64,
    /// Sum of `bytes_up`.
    pub bytes_up: i64,
    /// Sum of `bytes_down`.
    pub bytes_down: i64,
}

/// Column list shared by the round queries (a macro so `concat!` keeps the SQL `&'static`).
macro_rules! round_columns {
    () => {
        "run_id, round, status, started_at, finished_at, participants_json, dropped_json, \
         accuracy, loss, duration_s, bytes_up, bytes_down, epsilon_max, summary_json"
    };
}

impl Store {
    /// Inserts or replaces the round `(run_id, round)`: recording a round twice leaves one row.
    /// [`StoreError::NotFound`] if the run does not exist.
    pub async fn record_round(&self, round: &RoundRecord) -> Result<(), StoreError> {
        upsert_round(&self.pool, round, round.status).await
    }

    /// The round, if recorded.
    pub async fn get_round(
        &self,
        run_id: &str,
        round: i64,
    ) -> Result<Option<RoundRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            round_columns!(),
            " FROM rounds WHERE run_id = $1 AND round = $2"
        ))
        .bind(run_id)
        .bind(round)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| round_from_row(&r))
        .transpose()
    }

    /// The run's rounds in round order.
    pub async fn list_rounds(&self, run_id: &str) -> Result<Vec<RoundRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            round_columns!(),
            " FROM rounds WHERE run_id = $1 ORDER BY round"
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(round_from_row)
        .collect()
    }

    /// Counts and byte totals over the run's rounds.
    pub async fn run_totals(&self, run_id: &str) -> Result<RunTotals, StoreError> {
        // SUM(BIGINT) is NUMERIC on PostgreSQL, which `Any` cannot read: cast it back.
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, \
             COALESCE(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT), 0) AS done, \
             COALESCE(CAST(SUM(bytes_up) AS BIGINT), 0) AS up, \
             COALESCE(CAST(SUM(bytes_down) AS BIGINT), 0) AS down \
             FROM rounds WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(RunTotals {
            rounds: row.try_get("n")?,
            rounds_completed: row.try_get("done")?,
            bytes_up: row.try_get("up")?,
            bytes_down: row.try_get("down")?,
        })
    }

    /// Inserts or replaces one client's participation in a round, and in the same transaction
    /// recounts the client's `rounds_participated` (accepted participations) and raises its
    /// `epsilon_spent` to `epsilon_spent` if larger. Recording it twice never double counts.
    /// [`StoreError::NotFound`] if the client is not registered in the run.
    pub async fn record_participation(&self, p: &Participation) -> Result<(), StoreError> {
        check_id("run_id", &p.run_id)?;
        check_id("client_id", &p.client_id)?;
        check_round(p.round)?;
        if p.num_examples < 0 {
            return Err(StoreError::InvalidInput {
                field: "num_examples",
                reason: format!("must be ≥ 0, got {}", p.num_examples),
            });
        }
        if let Some(eps) = p.epsilon_spent {
            check_finite("epsilon_spent", eps)?;
        }
        let mut tx = self.pool.begin().await?;
        // Upsert first so the recount below sees this row.
        sqlx::query(
            "INSERT INTO participations (run_id, round, client_id, num_examples, train_loss, \
             epsilon_spent, accepted, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (run_id, round, client_id) DO UPDATE SET \
             num_examples = excluded.num_examples, train_loss = excluded.train_loss, \
             epsilon_spent = excluded.epsilon_spent, accepted = excluded.accepted, \
             reason = excluded.reason",
        )
        .bind(&p.run_id)
        .bind(p.round)
        .bind(&p.client_id)
        .bind(p.num_examples)
        .bind(finite_or_none(p.train_loss))
        .bind(p.epsilon_spent)
        .bind(i64::from(p.accepted))
        .bind(p.reason.as_deref())
        // Not cached: see `NULL_F64` in store/mod.rs.
        .persistent(false)
        .execute(&mut *tx)
        .await
        .map_err(|e| fk_not_found(e, || format!("run `{}`", p.run_id)))?;
        let updated = sqlx::query(
            "UPDATE clients SET rounds_participated = (SELECT COUNT(*) FROM participations \
             WHERE run_id = $1 AND client_id = $2 AND accepted = 1) \
             WHERE run_id = $1 AND client_id = $2",
        )
        .bind(&p.run_id)
        .bind(&p.client_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            // Dropping `tx` rolls the participation back.
            return Err(StoreError::NotFound(format!(
                "client `{}` in run `{}`",
                p.client_id, p.run_id
            )));
        }
        if let Some(eps) = p.epsilon_spent {
            raise_epsilon(&mut *tx, &p.run_id, &p.client_id, eps).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Participations of one round, by client id.
    pub async fn list_participations(
        &self,
        run_id: &str,
        round: i64,
    ) -> Result<Vec<Participation>, StoreError> {
        let rows = sqlx::query(
            "SELECT run_id, round, client_id, num_examples, train_loss, epsilon_spent, accepted, \
             reason FROM participations WHERE run_id = $1 AND round = $2 ORDER BY client_id",
        )
        .bind(run_id)
        .bind(round)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Participation {
                    run_id: r.try_get("run_id")?,
                    round: r.try_get("round")?,
                    client_id: r.try_get("client_id")?,
                    num_examples: r.try_get("num_examples")?,
                    train_loss: r.try_get("train_loss")?,
                    epsilon_spent: r.try_get("epsilon_spent")?,
                    accepted: r.try_get::<i64, _>("accepted")? != 0,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    /// Records a privacy event (replacing one for the same `(run_id, client_id, round)`) and
    /// raises the client's `epsilon_spent` to `epsilon_after` if larger, in one transaction.
    /// [`StoreError::NotFound`] if the run does not exist.
    pub async fn ledger_append(&self, e: &LedgerEntry) -> Result<(), StoreError> {
        check_id("run_id", &e.run_id)?;
        check_id("client_id", &e.client_id)?;
        check_round(e.round)?;
        check_finite("epsilon_after", e.epsilon_after)?;
        check_finite("delta", e.delta)?;
        check_json("event_json", &e.event_json)?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO privacy_ledger (run_id, client_id, round, epsilon_after, delta, \
             event_json) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (run_id, client_id, round) DO UPDATE SET \
             epsilon_after = excluded.epsilon_after, delta = excluded.delta, \
             event_json = excluded.event_json",
        )
        .bind(&e.run_id)
        .bind(&e.client_id)
        .bind(e.round)
        .bind(e.epsilon_after)
        .bind(e.delta)
        .bind(&e.event_json)
        .execute(&mut *tx)
        .await
        .map_err(|err| fk_not_found(err, || format!("run `{}`", e.run_id)))?;
        raise_epsilon(&mut *tx, &e.run_id, &e.client_id, e.epsilon_after).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The run's ledger (optionally one client's), ordered by round then client.
    pub async fn ledger(
        &self,
        run_id: &str,
        client_id: Option<&str>,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = match client_id {
            Some(c) => {
                sqlx::query(
                    "SELECT run_id, client_id, round, epsilon_after, delta, event_json \
                     FROM privacy_ledger WHERE run_id = $1 AND client_id = $2 ORDER BY round",
                )
                .bind(run_id)
                .bind(c)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT run_id, client_id, round, epsilon_after, delta, event_json \
                     FROM privacy_ledger WHERE run_id = $1 ORDER BY round, client_id",
                )
                .bind(run_id)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(LedgerEntry {
                    run_id: r.try_get("run_id")?,
                    client_id: r.try_get("client_id")?,
                    round: r.try_get("round")?,
                    epsilon_after: r.try_get("epsilon_after")?,
                    delta: r.try_get("delta")?,
                    event_json: r.try_get("event_json")?,
                })
            })
            .collect()
    }
}

async fn raise_epsilon<'c, E: Executor<'c, Database = Any>>(
    exec: E,
    run_id: &str,
    client_id: &str,
    eps: f64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE clients SET epsilon_spent = $3 \
         WHERE run_id = $1 AND client_id = $2 AND epsilon_spent < $3",
    )
    .bind(run_id)
    .bind(client_id)
    .bind(eps)
    .execute(exec)
    .await?;
    Ok(())
}

/// Upsert shared by [`Store::record_round`] and [`Store::save_checkpoint`] (which forces
/// `status`).
pub(super) async fn upsert_round<'c, E: Executor<'c, Database = Any>>(
    exec: E,
    r: &RoundRecord,
    status: RoundStatus,
) -> Result<(), StoreError> {
    check_id("run_id", &r.run_id)?;
    check_round(r.round)?;
    check_json("participants_json", &r.participants_json)?;
    check_json("dropped_json", &r.dropped_json)?;
    check_json("summary_json", &r.summary_json)?;
    if r.bytes_up < 0 || r.bytes_down < 0 {
        return Err(StoreError::InvalidInput {
            field: "bytes_up/bytes_down",
            reason: format!("must be ≥ 0, got {} / {}", r.bytes_up, r.bytes_down),
        });
    }
    sqlx::query(concat!(
        "INSERT INTO rounds (",
        round_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (run_id, round) DO UPDATE SET status = excluded.status, \
         started_at = excluded.started_at, finished_at = excluded.finished_at, \
         participants_json = excluded.participants_json, dropped_json = excluded.dropped_json, \
         accuracy = excluded.accuracy, loss = excluded.loss, duration_s = excluded.duration_s, \
         bytes_up = excluded.bytes_up, bytes_down = excluded.bytes_down, \
         epsilon_max = excluded.epsilon_max, summary_json = excluded.summary_json"
    ))
    .bind(&r.run_id)
    .bind(r.round)
    .bind(status.as_str())
    .bind(r.started_at)
    .bind(r.finished_at)
    .bind(&r.participants_json)
    .bind(&r.dropped_json)
    .bind(finite_or_none(r.accuracy))
    .bind(finite_or_none(r.loss))
    .bind(finite_or_none(r.duration_s))
    .bind(r.bytes_up)
    .bind(r.bytes_down)
    .bind(finite_or_none(r.epsilon_max))
    .bind(&r.summary_json)
    // Not cached: see `NULL_F64` in store/mod.rs.
    .persistent(false)
    .execute(exec)
    .await
    .map_err(|e| fk_not_found(e, || format!("run `{}`", r.run_id)))?;
    Ok(())
}

fn round_from_row(r: &AnyRow) -> Result<RoundRecord, StoreError> {
    Ok(RoundRecord {
        run_id: r.try_get("run_id")?,
        round: r.try_get("round")?,
        status: RoundStatus::parse(&r.try_get::<String, _>("status")?)?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        participants_json: r.try_get("participants_json")?,
        dropped_json: r.try_get("dropped_json")?,
        accuracy: r.try_get("accuracy")?,
        loss: r.try_get("loss")?,
        duration_s: r.try_get("duration_s")?,
        bytes_up: r.try_get("bytes_up")?,
        bytes_down: r.try_get("bytes_down")?,
        epsilon_max: r.try_get("epsilon_max")?,
        summary_json: r.try_get("summary_json")?,
    })
}

/// A foreign-key violation means the referenced run (or round) is missing.
pub(super) fn fk_not_found(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match e.as_database_error() {
        Some(d) if d.is_foreign_key_violation() => StoreError::NotFound(what()),
        _ => StoreError::Db(e),
    }
}
