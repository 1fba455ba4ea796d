//! A minimal HTTP surface: health, readiness, run status and Prometheus metrics.
//!
//! The full REST API and dashboard live in `fl-api`; until it is wired in, this serves what
//! the deployment (probes, Prometheus scrape) needs.

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::state::Shared;

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls are no-ops).
pub fn install_metrics_recorder() -> Result<(), String> {
    if METRICS.get().is_some() {
        return Ok(());
    }
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| e.to_string())?;
    let _ = METRICS.set(handle);
    Ok(())
}

/// The router: `GET /api/v1/health`, `/api/v1/ready`, `/api/v1/status`, `/metrics`.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/api/v1/health",
            get(|| async { Json(json!({"status": "ok"})) }),
        )
        .route(
            "/api/v1/ready",
            get(|| async { Json(json!({"status": "ready"})) }),
        )
        .route("/api/v1/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

async fn status(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let s = shared.snap();
    let clients = shared.presence.lock().map(|p| p.len()).unwrap_or(0);
    Json(json!({
        "run_id": shared.cfg.run_id,
        "phase": format!("{:?}", s.phase).to_lowercase(),
        "open_round": s.open_round,
        "completed_rounds": s.completed,
        "rounds": shared.cfg.rounds,
        "model_version": s.model_version,
        "clients_registered": clients,
        "last_accuracy": s.rounds.last().and_then(|r| r.accuracy),
        "rejections": shared.rejection_counts(),
    }))
}

async fn metrics() -> impl IntoResponse {
    match METRICS.get() {
        Some(h) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain")],
            "metrics recorder not installed\n".to_string(),
        ),
    }
}
