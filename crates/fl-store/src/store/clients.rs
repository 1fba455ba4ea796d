//! Clients registered in a run.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::rounds::fk_not_found;
use super::{check_finite, check_id, check_json};
use crate::{ClientRecord, Store, StoreError, now_ms};

/// Column list shared by the client queries (a macro so `concat!` keeps the SQL `&'static`).
macro_rules! client_columns {
    () => {
        "run_id, client_id, capabilities_json, first_seen, last_seen, rounds_participated, \
         epsilon_spent, epsilon_budget, status"
    };
}

impl Store {
    /// Registers a client in a run, or on re-registration replaces its capabilities and budget
    /// and refreshes `last_seen`. A new client starts with status `"active"`; an existing
    /// client's status, counters and `first_seen` are kept. [`StoreError::NotFound`] if the run
    /// does not exist.
    pub async fn upsert_client(
        &self,
        run_id: &str,
        client_id: &str,
        capabilities_json: &str,
        epsilon_budget: Option<f64>,
    ) -> Result<(), StoreError> {
        check_id("run_id", run_id)?;
        check_id("client_id", client_id)?;
        check_json("capabilities_json", capabilities_json)?;
        if let Some(b) = epsilon_budget {
            check_finite("epsilon_budget", b)?;
        }
        sqlx::query(
            "INSERT INTO clients (run_id, client_id, capabilities_json, first_seen, last_seen, \
             rounds_participated, epsilon_spent, epsilon_budget, status) \
             VALUES ($1, $2, $3, $4, $4, 0, 0.0, $5, 'active') \
             ON CONFLICT (run_id, client_id) DO UPDATE SET \
             capabilities_json = excluded.capabilities_json, last_seen = excluded.last_seen, \
             epsilon_budget = excluded.epsilon_budget",
        )
        .bind(run_id)
        .bind(client_id)
        .bind(capabilities_json)
        .bind(now_ms())
        .bind(epsilon_budget)
        // Not cached: see `NULL_F64` in store/mod.rs.
        .persistent(false)
        .execute(&self.pool)
        .await
        .map_err(|e| fk_not_found(e, || format!("run `{run_id}`")))?;
        Ok(())
    }

    /// Sets the client's `last_seen` to now. [`StoreError::NotFound`] if it is not registered.
    pub async fn touch_client(&self, run_id: &str, client_id: &str) -> Result<(), StoreError> {
        let n =
            sqlx::query("UPDATE clients SET last_seen = $3 WHERE run_id = $1 AND client_id = $2")
                .bind(run_id)
                .bind(client_id)
                .bind(now_ms())
                .execute(&self.pool)
                .await?
                .rows_affected();
        not_found_if_zero(n, run_id, client_id)
    }

    /// Sets the client's free-form status (e.g. `"active"`, `"dropped"`, `"banned"`).
    /// [`StoreError::NotFound`] if it is not registered.
    pub async fn set_client_status(
        &self,
        run_id: &str,
        client_id: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        check_id("status", status)?;
        let n = sqlx::query("UPDATE clients SET status = $3 WHERE run_id = $1 AND client_id = $2")
            .bind(run_id)
            .bind(client_id)
            .bind(status)
            .execute(&self.pool)
            .await?
            .rows_affected();
        not_found_if_zero(n, run_id, client_id)
    }

    /// The client, if registered in the run.
    pub async fn get_client(
        &self,
        run_id: &str,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE run_id = $1 AND client_id = $2"
        ))
        .bind(run_id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| client_from_row(&r))
        .transpose()
    }

    /// The run's clients, by client id.
    pub async fn list_clients(&self, run_id: &str) -> Result<Vec<ClientRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE run_id = $1 ORDER BY client_id"
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(client_from_row)
        .collect()
    }
}

fn not_found_if_zero(n: u64, run_id: &str, client_id: &str) -> Result<(), StoreError> {
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "client `{client_id}` in run `{run_id}`"
        )));
    }
    Ok(())
}

fn client_from_row(r: &AnyRow) -> Result<ClientRecord, StoreError> {
    Ok(ClientRecord {
        run_id: r.try_get("run_id")?,
        client_id: r.try_get("client_id")?,
        capabilities_json: r.try_get("capabilities_json")?,
        first_seen: r.try_get("first_seen")?,
        last_seen: r.try_get("last_seen")?,
        rounds_participated: r.try_get("rounds_participated")?,
        epsilon_spent: r.try_get("epsilon_spent")?,
        epsilon_budget: r.try_get("epsilon_budget")?,
        status: r.try_get("status")?,
    })
}
