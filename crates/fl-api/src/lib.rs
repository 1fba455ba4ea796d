//! REST control plane, Prometheus `/metrics` and the embedded dashboard of the FL coordinator.
//!
//! # Interface (stable; the coordinator depends on it)
//!
//! - [`ControlPlane`]: a synchronous, dyn-compatible trait the coordinator implements over its
//!   in-memory state; [`ControlPlane::model_file`] alone returns a boxed future
//!   ([`ModelFileFuture`]) because it reads the model store.
//! - [`router`]`(Arc<dyn ControlPlane>, ApiConfig) -> axum::Router`: every route below, ready to
//!   serve with `axum::serve`.
//! - [`install_metrics_recorder`]: installs the global `metrics` recorder (idempotent); the
//!   coordinator records with `metrics::{counter, gauge, histogram}!` using [`metrics::names`],
//!   and `GET /metrics` renders it.
//!
//! # Routes
//!
//! | Method | Path | Auth | Answer |
//! |---|---|---|---|
//! | GET | `/api/v1/health` | none | 200 `{"status":"ok"}` (liveness) |
//! | GET | `/api/v1/ready` | none | 200 `{"status":"ready"}` or 503 |
//! | GET | `/api/v1/run` | read | [`RunStatus`] |
//! | GET | `/api/v1/rounds` | read | [`RoundInfo`] list |
//! | GET | `/api/v1/rounds/{round}` | read | [`RoundInfo`]; 400 malformed, 404 unknown |
//! | GET | `/api/v1/clients` | read | [`ClientInfo`] list |
//! | GET | `/api/v1/clients/{id}` | read | [`ClientInfo`]; 404 unknown |
//! | GET | `/api/v1/privacy` | read | [`PrivacyOverview`] |
//! | GET | `/api/v1/models` | read | [`ModelInfo`] list |
//! | GET | `/api/v1/models/{round}` | read | safetensors bytes (`application/octet-stream`) |
//! | POST | `/api/v1/training/{start,pause,resume,stop}` | admin | [`RunStatus`]; 409 if not allowed |
//! | GET | `/api/v1/openapi.json` | none | OpenAPI 3.1 document of all these routes |
//! | GET | `/metrics` | none | Prometheus text format |
//! | GET | `/` | none | the dashboard (data calls use the read rule) |
//!
//! "admin": `Authorization: Bearer <admin key>` required (401 when missing, 403 when wrong,
//! 403 with a hint when no key is configured: mutating routes are never open by default).
//! "read": open unless [`ApiConfig::read_requires_key`], then like admin.
//! Every error is JSON `{"error": {"code": "...", "message": "..."}}` ([`ApiError`]), including
//! unknown routes (404) and wrong methods (405).

mod auth;
mod control;
mod dashboard;
mod error;
mod handlers;
pub mod metrics;
mod types;

use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use metrics_exporter_prometheus::PrometheusHandle;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use control::{ControlPlane, ModelFileFuture};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use metrics::{MetricsError, install_metrics_recorder};
pub use types::{
    BUDGET_WARNING_FRACTION, Capabilities, ClientInfo, ClientPrivacy, Command, HealthStatus,
    ModelInfo, PrivacyOverview, RoundInfo, RunPhase, RunStatus, TrainingState,
};

/// Access control of the API.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// Key for `Authorization: Bearer <key>`. `None` (or empty) disables mutating routes.
    /// Set from config `security.admin_api_key` or env `FL_ADMIN_API_KEY`.
    pub admin_api_key: Option<String>,
    /// Also require the key on read routes (run, rounds, clients, privacy, models).
    /// Probes, `/metrics`, `/openapi.json` and the dashboard page itself stay open.
    pub read_requires_key: bool,
}

/// Shared state of the handlers.
#[derive(Clone)]
pub(crate) struct AppState {
    cp: Arc<dyn ControlPlane>,
    admin_key: Option<Arc<str>>,
    read_requires_key: bool,
    metrics: Result<PrometheusHandle, Arc<str>>,
    openapi: Arc<str>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "FL coordinator API",
        description = "Run status, rounds, clients, privacy budgets, models and training control."
    ),
    modifiers(&BearerScheme),
    components(schemas(ErrorBody, ErrorDetail))
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Route table and OpenAPI document, built from the same handler list.
fn parts() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    use handlers::*;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(run))
        .routes(routes!(rounds))
        .routes(routes!(round))
        .routes(routes!(clients))
        .routes(routes!(client))
        .routes(routes!(privacy))
        .routes(routes!(models))
        .routes(routes!(model_file))
        .routes(routes!(training_start))
        .routes(routes!(training_pause))
        .routes(routes!(training_resume))
        .routes(routes!(training_stop))
        .routes(routes!(openapi))
        .routes(routes!(metrics))
        .routes(routes!(dashboard))
        .split_for_parts()
}

/// The OpenAPI document served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    parts().1
}

/// Builds the HTTP router: REST API under `/api/v1`, `GET /metrics` and the dashboard at `/`.
///
/// Installs the Prometheus recorder if needed ([`install_metrics_recorder`]); if that fails
/// (another global recorder exists) the API still works and `/metrics` answers 503.
pub fn router(state: Arc<dyn ControlPlane>, cfg: ApiConfig) -> axum::Router {
    let (routes, doc) = parts();
    let openapi = doc
        .to_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot render OpenAPI: {e}\"}}"));
    let state = AppState {
        cp: state,
        admin_key: cfg
            .admin_api_key
            .filter(|k| !k.trim().is_empty())
            .map(|k| Arc::from(k.trim())),
        read_requires_key: cfg.read_requires_key,
        metrics: install_metrics_recorder().map_err(|e| Arc::from(e.to_string())),
        openapi: Arc::from(openapi),
    };
    routes
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Headers on every response: no MIME sniffing, and API answers are never cached.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}
