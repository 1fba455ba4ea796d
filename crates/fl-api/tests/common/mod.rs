//! In-memory fake of the coordinator for the API tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use fl_api::{
    ApiConfig, ApiError, Capabilities, ClientInfo, ClientPrivacy, Command, ControlPlane,
    ModelFileFuture, ModelInfo, PrivacyOverview, RoundInfo, RunPhase, RunStatus, TrainingState,
};
use tower::ServiceExt;

pub const KEY: &str = "test-admin-key";
pub const BUDGET: f64 = 8.0;

/// Fake coordinator: five rounds, four clients (one at warning, one exhausted), two models.
pub struct Fake {
    pub state: Mutex<TrainingState>,
    pub ready: bool,
}

impl Fake {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(TrainingState::Running),
            ready: true,
        })
    }
}

pub fn accuracy(round: u64) -> f64 {
    0.5 + 0.09 * round as f64 - 0.0037 * (round * round) as f64
}

pub fn fake_rounds() -> Vec<RoundInfo> {
    (1..=5)
        .map(|r| RoundInfo {
            round: r,
            participants: 4,
            dropped: u64::from(r == 3),
            accuracy: Some(accuracy(r)),
            loss: Some(2.0 / (r as f64 + 1.0)),
            duration_seconds: 3.0 + r as f64 * 0.7,
            bytes_up: 1_000_000 * r,
            bytes_down: 2_000_000 * r,
            epsilon: Some(1.5 * r as f64),
            attempt: 1,
            completed_at_unix: Some(1_790_000_000 + 10 * r),
        })
        .collect()
}

/// (id, online, epsilon spent)
pub const CLIENTS: [(&str, bool, f64); 4] = [
    ("hospital-a", true, 2.5),
    ("hospital-b", true, 4.0),
    ("clinic-c", false, 6.9),
    ("lab-d", true, 8.0),
];

fn client_info(id: &str, online: bool, eps: f64) -> ClientInfo {
    let line = ClientPrivacy::new(id, eps, Some(BUDGET), eps >= BUDGET);
    ClientInfo {
        client_id: id.to_owned(),
        online,
        last_seen_unix: Some(1_790_000_050),
        capabilities: Capabilities {
            cores: 4,
            memory_bytes: 8 << 30,
            num_examples: 15_000,
            samples_per_second: 1200.0,
        },
        rounds_participated: 5,
        epsilon_spent: eps,
        epsilon_budget: Some(BUDGET),
        budget_fraction: line.budget_fraction,
        budget_exhausted: line.budget_exhausted,
    }
}

pub const MODEL_BYTES: &[u8] = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      fake-safetensors";

impl ControlPlane for Fake {
    fn ready(&self) -> bool {
        self.ready
    }
    fn status(&self) -> RunStatus {
        let training_state = *self.state.lock().unwrap();
        RunStatus {
            run_id: "run-0001".into(),
            phase: match training_state {
                TrainingState::Idle => RunPhase::Waiting,
                TrainingState::Running => RunPhase::Training,
                TrainingState::Paused => RunPhase::Paused,
                TrainingState::Finished => RunPhase::Finished,
            },
            current_round: 6,
            completed_rounds: 5,
            total_rounds: 20,
            clients_connected: 3,
            clients_registered: 4,
            strategy: "fedavg".into(),
            model: "mnist-cnn".into(),
            started_at_unix: Some(1_790_000_000),
            training_state,
        }
    }
    fn rounds(&self) -> Vec<RoundInfo> {
        fake_rounds()
    }
    fn round(&self, round: u64) -> Option<RoundInfo> {
        fake_rounds().into_iter().find(|r| r.round == round)
    }
    fn clients(&self) -> Vec<ClientInfo> {
        CLIENTS
            .iter()
            .map(|(id, on, e)| client_info(id, *on, *e))
            .collect()
    }
    fn client(&self, id: &str) -> Option<ClientInfo> {
        self.clients().into_iter().find(|c| c.client_id == id)
    }
    fn privacy(&self) -> PrivacyOverview {
        PrivacyOverview {
            enabled: true,
            accountant: "rdp".into(),
            delta: 1e-5,
            epsilon_budget: Some(BUDGET),
            noise_multiplier: Some(1.1),
            max_grad_norm: Some(1.0),
            epsilon_max: 0.0,
            clients_at_warning: 0,
            clients_exhausted: 0,
            clients: CLIENTS
                .iter()
                .map(|(id, _, e)| ClientPrivacy::new(*id, *e, Some(BUDGET), *e >= BUDGET))
                .collect(),
        }
        .tally()
    }
    fn models(&self) -> Vec<ModelInfo> {
        [0, 5]
            .into_iter()
            .map(|r| ModelInfo {
                round: r,
                model_version: r + 1,
                sha256: "ab".repeat(32),
                size_bytes: MODEL_BYTES.len() as u64,
            })
            .collect()
    }
    fn model_file(&self, round: u64) -> ModelFileFuture<'_> {
        Box::pin(async move {
            match round {
                0 | 5 => Ok(Some(MODEL_BYTES.to_vec())),
                13 => Err(ApiError::Internal("store read failed".into())),
                _ => Ok(None),
            }
        })
    }
    fn command(&self, cmd: Command) -> Result<RunStatus, ApiError> {
        {
            let mut st = self.state.lock().unwrap();
            let next = match (cmd, *st) {
                (Command::Start, TrainingState::Idle) => TrainingState::Running,
                (Command::Pause, TrainingState::Running) => TrainingState::Paused,
                (Command::Resume, TrainingState::Paused) => TrainingState::Running,
                (Command::Stop, s) if s != TrainingState::Finished => TrainingState::Finished,
                (c, s) => {
                    return Err(ApiError::Conflict(format!(
                        "cannot {} while {s:?}",
                        c.as_str()
                    )));
                }
            };
            *st = next;
        }
        Ok(self.status())
    }
}

pub fn app(fake: Arc<Fake>, key: Option<&str>, read_requires_key: bool) -> Router {
    fl_api::router(
        fake,
        ApiConfig {
            admin_api_key: key.map(str::to_owned),
            read_requires_key,
        },
    )
}

/// Sends one request; returns status, headers and body bytes.
pub async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    auth: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = to_bytes(resp.into_body(), 64 << 20).await.unwrap().to_vec();
    (status, headers, body)
}

pub async fn json(
    app: &Router,
    method: &str,
    uri: &str,
    auth: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let (status, headers, body) = send(app, method, uri, auth).await;
    let ct = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "{method} {uri}: content-type {ct:?}"
    );
    (status, serde_json::from_slice(&body).expect("JSON body"))
}

/// Asserts an error document with the given status and code.
pub async fn expect_error(
    app: &Router,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    status: u16,
    code: &str,
) -> String {
    let (s, v) = json(app, method, uri, auth).await;
    assert_eq!(s.as_u16(), status, "{method} {uri}: {v}");
    assert_eq!(v["error"]["code"], code, "{method} {uri}: {v}");
    let msg = v["error"]["message"].as_str().expect("message").to_owned();
    assert!(!msg.is_empty());
    msg
}

pub fn bearer(k: &str) -> String {
    format!("Bearer {k}")
}
