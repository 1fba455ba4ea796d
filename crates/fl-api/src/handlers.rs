//! Route handlers. Each carries a `#[utoipa::path]` so that the router and the OpenAPI
//! document are generated from the same list (see [`crate::router`]).

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::{Admin, Reader};
use crate::error::{ApiError, ErrorBody};
use crate::types::{
    ClientInfo, Command, HealthStatus, ModelInfo, PrivacyOverview, RoundInfo, RunStatus,
};

/// Longest slice of user input echoed back in an error message.
const ECHO_MAX: usize = 64;

fn echo(s: &str) -> String {
    s.chars().take(ECHO_MAX).collect()
}

/// Parses a `{round}` path segment: a non-negative decimal integer.
fn parse_round(raw: Result<Path<String>, PathRejection>) -> Result<u64, ApiError> {
    let Path(raw) = raw.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest(format!(
            "round must be a non-negative integer, got {:?}",
            echo(&raw)
        )));
    }
    raw.parse::<u64>()
        .map_err(|_| ApiError::BadRequest(format!("round {:?} is out of range", echo(&raw))))
}

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = "/api/v1/health", tag = "probes",
    responses((status = 200, description = "Alive", body = HealthStatus)))]
pub(crate) async fn health() -> Json<HealthStatus> {
    Json(HealthStatus {
        status: "ok".to_owned(),
    })
}

/// Readiness: store connected and round engine running.
#[utoipa::path(get, path = "/api/v1/ready", tag = "probes", responses(
    (status = 200, description = "Ready", body = HealthStatus),
    (status = 503, description = "Not ready", body = ErrorBody)))]
pub(crate) async fn ready(State(s): State<AppState>) -> Result<Json<HealthStatus>, ApiError> {
    if s.cp.ready() {
        Ok(Json(HealthStatus {
            status: "ready".to_owned(),
        }))
    } else {
        Err(ApiError::Unavailable(
            "not ready: store not connected or round engine not running".to_owned(),
        ))
    }
}

/// State of the current run.
#[utoipa::path(get, path = "/api/v1/run", tag = "run", security((), ("admin_key" = [])),
    responses((status = 200, body = RunStatus), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn run(_: Reader, State(s): State<AppState>) -> Json<RunStatus> {
    Json(s.cp.status())
}

/// Completed rounds, oldest first.
#[utoipa::path(get, path = "/api/v1/rounds", tag = "run", security((), ("admin_key" = [])),
    responses((status = 200, body = Vec<RoundInfo>), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn rounds(_: Reader, State(s): State<AppState>) -> Json<Vec<RoundInfo>> {
    Json(s.cp.rounds())
}

/// One completed round.
#[utoipa::path(get, path = "/api/v1/rounds/{round}", tag = "run", security((), ("admin_key" = [])),
    params(("round" = u64, Path, description = "Round number (non-negative integer)")),
    responses((status = 200, body = RoundInfo),
        (status = 400, description = "Malformed round", body = ErrorBody),
        (status = 404, description = "No such round", body = ErrorBody)))]
pub(crate) async fn round(
    _: Reader,
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<RoundInfo>, ApiError> {
    let n = parse_round(path)?;
    s.cp.round(n)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("round {n} not found")))
}

/// Registered clients.
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", security((), ("admin_key" = [])),
    responses((status = 200, body = Vec<ClientInfo>), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn clients(_: Reader, State(s): State<AppState>) -> Json<Vec<ClientInfo>> {
    Json(s.cp.clients())
}

/// One client.
#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "clients", security((), ("admin_key" = [])),
    params(("id" = String, Path, description = "Client identifier")),
    responses((status = 200, body = ClientInfo),
        (status = 404, description = "Unknown client", body = ErrorBody)))]
pub(crate) async fn client(
    _: Reader,
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ClientInfo>, ApiError> {
    let Path(id) = path.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    s.cp.client(&id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("client {:?} not found", echo(&id))))
}

/// Differential-privacy configuration and per-client ε spend.
#[utoipa::path(get, path = "/api/v1/privacy", tag = "privacy", security((), ("admin_key" = [])),
    responses((status = 200, body = PrivacyOverview), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn privacy(_: Reader, State(s): State<AppState>) -> Json<PrivacyOverview> {
    Json(s.cp.privacy())
}

/// Stored global models.
#[utoipa::path(get, path = "/api/v1/models", tag = "models", security((), ("admin_key" = [])),
    responses((status = 200, body = Vec<ModelInfo>), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn models(_: Reader, State(s): State<AppState>) -> Json<Vec<ModelInfo>> {
    Json(s.cp.models())
}

/// Downloads the global model of a round as a safetensors file.
#[utoipa::path(get, path = "/api/v1/models/{round}", tag = "models", security((), ("admin_key" = [])),
    params(("round" = u64, Path, description = "Round that produced the model")),
    responses((status = 200, description = "safetensors file", body = Vec<u8>,
            content_type = "application/octet-stream"),
        (status = 400, description = "Malformed round", body = ErrorBody),
        (status = 404, description = "No model for this round", body = ErrorBody)))]
pub(crate) async fn model_file(
    _: Reader,
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let n = parse_round(path)?;
    let bytes =
        s.cp.model_file(n)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no model stored for round {n}")))?;
    let disposition = format!("attachment; filename=\"model-round-{n}.safetensors\"");
    let mut resp = bytes.into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

fn command(s: &AppState, cmd: Command) -> Result<Json<RunStatus>, ApiError> {
    s.cp.command(cmd).map(Json)
}

macro_rules! command_route {
    ($name:ident, $cmd:expr, $path:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "training", security(("admin_key" = [])),
            responses((status = 200, description = "New run status", body = RunStatus),
                (status = 401, description = "Missing key", body = ErrorBody),
                (status = 403, description = "Wrong key or no key configured", body = ErrorBody),
                (status = 409, description = "Not allowed in the current state", body = ErrorBody)))]
        pub(crate) async fn $name(
            _: Admin,
            State(s): State<AppState>,
        ) -> Result<Json<RunStatus>, ApiError> {
            command(&s, $cmd)
        }
    };
}

command_route!(
    training_start,
    Command::Start,
    "/api/v1/training/start",
    "Starts training."
);
command_route!(
    training_pause,
    Command::Pause,
    "/api/v1/training/pause",
    "Pauses after the current round."
);
command_route!(
    training_resume,
    Command::Resume,
    "/api/v1/training/resume",
    "Resumes a paused run."
);
command_route!(
    training_stop,
    Command::Stop,
    "/api/v1/training/stop",
    "Stops the run for good."
);

/// This OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn openapi(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        s.openapi.to_string(),
    )
        .into_response()
}

/// Prometheus text exposition of the coordinator's metrics.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String,
            content_type = "text/plain; version=0.0.4"),
        (status = 503, description = "Recorder not installed", body = ErrorBody)))]
pub(crate) async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    let handle = s
        .metrics
        .as_ref()
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(handle),
    )
        .into_response())
}

/// The operator dashboard (single self-contained HTML page).
#[utoipa::path(get, path = "/", tag = "meta",
    responses((status = 200, description = "Dashboard", body = String, content_type = "text/html")))]
pub(crate) async fn dashboard() -> Response {
    crate::dashboard::page()
}

/// JSON 404 for unknown routes.
pub(crate) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", echo(uri.path())))
}

/// JSON 405 for known routes with the wrong method.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "method {method} is not allowed on {}",
        echo(uri.path())
    ))
}
