//! The tonic `fl.v1.Federation` service.
//!
//! Handlers authenticate the session, check requests against the latest [`Snapshot`] and
//! forward joins and updates to the engine task. `SubmitUpdate` checks the header (session,
//! client id, round, version, duplicate, codec, length) before reading any data.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fl_core::UpdateRejected;
use fl_core::adapt::Capabilities;
use fl_core::engine::{FinishReason, TrainTask, Update};
use fl_proto::pb::federation_server::Federation;
use fl_proto::pb::{self, get_task_response::Task};
use fl_proto::{DEFAULT_CHUNK_SIZE, PROTOCOL_VERSION, read_update_body_idle, read_update_header};
use tokio::sync::oneshot;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, info, warn};

use crate::state::{Command, Presence, RunPhase, Shared, Snapshot};

/// The gRPC service; cheap to clone.
#[derive(Clone, Debug)]
pub struct FederationService {
    shared: Arc<Shared>,
}

type ModelStream = Pin<Box<dyn Stream<Item = Result<pb::ModelChunk, Status>> + Send>>;

/// Maps an engine rejection to its gRPC status.
pub fn rejection_status(e: &UpdateRejected) -> Status {
    let msg = e.to_string();
    match e {
        UpdateRejected::NonFinite(_)
        | UpdateRejected::WrongLength { .. }
        | UpdateRejected::NormTooLarge { .. }
        | UpdateRejected::NoExamples => Status::invalid_argument(msg),
        UpdateRejected::WrongRound { .. }
        | UpdateRejected::WrongModelVersion { .. }
        | UpdateRejected::NoOpenRound
        | UpdateRejected::TooLate => Status::failed_precondition(msg),
        UpdateRejected::NotSelected(_) => Status::permission_denied(msg),
        UpdateRejected::Duplicate(_) => Status::already_exists(msg),
    }
}

fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:@".contains(c))
}

impl FederationService {
    /// A service over the shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Resolves a session token to its client id and checks the claimed id matches.
    /// The client id of the caller's verified certificate under mutual TLS (`None` without).
    fn peer_id<T>(&self, request: &Request<T>) -> Result<Option<String>, Status> {
        if !self.shared.mtls {
            return Ok(None);
        }
        fl_tls::client_id_from_peer_certs(request)
            .map(Some)
            .map_err(|e| fl_tls::identity_status(&e))
    }

    /// Resolves a session token to its client id and checks the claimed id matches; under
    /// mutual TLS the certificate must also be the session's client, so a leaked token is
    /// useless from another machine.
    async fn authenticate(
        &self,
        token: &str,
        claimed: &str,
        peer: &Option<String>,
    ) -> Result<String, Status> {
        if let Some(p) = peer
            && p != claimed
        {
            self.shared.count_rejection("forged_client_id");
            return Err(Status::permission_denied(format!(
                "the client certificate is for `{p}`, not `{claimed}`"
            )));
        }
        let client = self
            .shared
            .sessions
            .validate(token)
            .await
            .map_err(|e| Status::unavailable(format!("session store: {e}")))?
            .ok_or_else(|| Status::unauthenticated("unknown or expired session; register again"))?;
        if client != claimed {
            self.shared.count_rejection("forged_client_id");
            return Err(Status::permission_denied(format!(
                "session belongs to another client than `{claimed}`"
            )));
        }
        self.shared.rate_check(&client)?;
        let known = self
            .shared
            .presence
            .lock()
            .map(|p| p.contains_key(&client))
            .unwrap_or(false);
        if !known {
            // Dropped for missed heartbeats: it must register again to rejoin the pool.
            return Err(Status::unauthenticated(
                "client was dropped; register again",
            ));
        }
        self.shared.touch(&client);
        Ok(client)
    }

    fn train_task(&self, snap: &Snapshot, t: &TrainTask) -> Option<pb::TrainTask> {
        let model = snap.model(t.model_version)?;
        let dp = t.dp.as_ref().map(|d| pb::DpConfig {
            noise_multiplier: d.noise_multiplier,
            max_grad_norm: d.max_grad_norm,
            sample_rate: None,
            delta: d.delta,
            epsilon_budget: d.epsilon,
        });
        Some(pb::TrainTask {
            round: t.round,
            model_version: t.model_version,
            local_epochs: t.plan.local_epochs,
            batch_size: t.plan.batch_size,
            learning_rate: t.plan.learning_rate,
            momentum: t.plan.momentum,
            nesterov: t.plan.nesterov,
            max_steps: t.plan.max_steps.unwrap_or(0),
            proximal_mu: t.plan.proximal_mu,
            codec: self.shared.codec.to_string(),
            dp,
            seed: t.seed,
            model_len: self.shared.layout.len() as u64,
            model_checksum: model.sha256().to_string(),
        })
    }

    fn answer(&self, snap: &Snapshot, client: &str) -> Option<Task> {
        if let Some(reason) = &snap.finished {
            let reason = match reason {
                FinishReason::Completed => "all rounds completed".to_string(),
                FinishReason::Stopped => "stopped by the operator".to_string(),
                FinishReason::Aborted { round } => format!("aborted at round {round}"),
            };
            return Some(Task::Finished(pb::FinishedTask { reason }));
        }
        let t = snap.tasks.get(client)?;
        self.train_task(snap, t).map(Task::Train)
    }

    async fn send(&self, cmd: Command) -> Result<(), Status> {
        self.shared
            .commands
            .send(cmd)
            .await
            .map_err(|_| self.closed_status())
    }

    /// Why the engine no longer takes commands: the run is over (the client should stop),
    /// or the process is shutting down (the client should retry elsewhere/later).
    fn closed_status(&self) -> Status {
        match &self.shared.snap().finished {
            Some(reason) => Status::failed_precondition(format!("the run is finished: {reason:?}")),
            None => Status::unavailable("the run is shutting down"),
        }
    }
}

#[tonic::async_trait]
impl Federation for FederationService {
    type DownloadModelStream = ModelStream;

    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        if self.shared.mtls {
            crate::auth::check_certificate(&request, &request.get_ref().client_id)
                .inspect_err(|_| self.shared.count_rejection("auth"))?;
        }
        let req = request.into_inner();
        if req.protocol_version == 0 {
            return Err(Status::invalid_argument("protocol_version must be set"));
        }
        if req.protocol_version != PROTOCOL_VERSION {
            return Err(Status::failed_precondition(format!(
                "this coordinator speaks protocol {PROTOCOL_VERSION}, the client {}",
                req.protocol_version
            )));
        }
        if !valid_client_id(&req.client_id) {
            return Err(Status::invalid_argument(
                "client_id must be 1-128 characters of [A-Za-z0-9._:@-]",
            ));
        }
        self.shared.rate_check(&req.client_id)?;
        if let Some(enrolled) = &self.shared.enrollments {
            let now = (fl_store::now_ms() / 1000).max(0) as u64;
            if let Err(st) = enrolled.check(&req.client_id, &req.auth_token, now) {
                self.shared.count_rejection("auth");
                warn!(client = %req.client_id, "registration refused: {}", st.message());
                return Err(st);
            }
        }
        let c = req.capabilities.unwrap_or_default();
        let sps = if c.samples_per_second.is_finite() && c.samples_per_second >= 0.0 {
            c.samples_per_second
        } else {
            0.0
        };
        let caps = Capabilities {
            cores: c.cores,
            memory_bytes: c.memory_bytes,
            num_examples: c.num_examples,
            samples_per_second: sps,
        };
        let cfg = &self.shared.cfg;
        let ttl = Duration::from_secs(cfg.sessions.ttl_secs);
        let token = self
            .shared
            .sessions
            .create(&req.client_id, ttl)
            .await
            .map_err(|e| Status::unavailable(format!("session store: {e}")))?;
        if let Ok(mut p) = self.shared.presence.lock() {
            p.insert(
                req.client_id.clone(),
                Presence {
                    last_seen: Instant::now(),
                    caps: caps.clone(),
                    connected: true,
                },
            );
        }
        self.shared.publish_client_gauges();
        info!(client = %req.client_id, examples = caps.num_examples, samples_per_second = caps.samples_per_second, "client registered");
        self.send(Command::Join {
            client: req.client_id.clone(),
            caps,
        })
        .await?;
        Ok(Response::new(pb::RegisterResponse {
            session_token: token,
            session_ttl_seconds: cfg.sessions.ttl_secs,
            heartbeat_interval_ms: cfg.sessions.heartbeat_interval_ms,
            run_id: cfg.run_id.clone(),
            protocol_version: PROTOCOL_VERSION,
            max_update_bytes: self.shared.max_update_bytes,
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let peer = self.peer_id(&request)?;
        let req = request.into_inner();
        // A failed check answers ok=false (the client registers again), except a client
        // over its rate, which must slow down rather than re-register.
        let ok = match self
            .authenticate(&req.session_token, &req.client_id, &peer)
            .await
        {
            Ok(_) => true,
            Err(s) if s.code() == tonic::Code::ResourceExhausted => return Err(s),
            Err(_) => false,
        };
        let snap = self.shared.snap();
        let run_state = match (&snap.finished, snap.phase) {
            (Some(FinishReason::Completed), _) => pb::RunState::Finished,
            (Some(_), _) => pb::RunState::Aborted,
            (None, RunPhase::Waiting) if snap.completed == 0 => pb::RunState::Waiting,
            _ => pb::RunState::Running,
        };
        Ok(Response::new(pb::HeartbeatResponse {
            ok,
            run_state: run_state as i32,
            round: snap.open_round.unwrap_or(snap.completed),
        }))
    }

    async fn get_task(
        &self,
        request: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::GetTaskResponse>, Status> {
        let peer = self.peer_id(&request)?;
        let req = request.into_inner();
        let client = self
            .authenticate(&req.session_token, &req.client_id, &peer)
            .await?;
        let max = self.shared.cfg.limits.max_long_poll_ms;
        let wait = Duration::from_millis(if req.wait_ms == 0 {
            max
        } else {
            req.wait_ms.min(max)
        });
        let deadline = tokio::time::Instant::now() + wait;
        let mut rx = self.shared.snapshot.clone();
        loop {
            let snap = rx.borrow_and_update().clone();
            if let Some(task) = self.answer(&snap, &client) {
                return Ok(Response::new(pb::GetTaskResponse { task: Some(task) }));
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                // Timed out, or the engine is gone: tell the client to come back.
                _ => break,
            }
        }
        self.shared.touch(&client);
        Ok(Response::new(pb::GetTaskResponse {
            task: Some(Task::Wait(pb::WaitTask {
                retry_after_ms: 200,
            })),
        }))
    }

    async fn download_model(
        &self,
        request: Request<pb::DownloadModelRequest>,
    ) -> Result<Response<ModelStream>, Status> {
        let peer = self.peer_id(&request)?;
        let req = request.into_inner();
        self.authenticate(&req.session_token, &req.client_id, &peer)
            .await?;
        let snap = self.shared.snap();
        let model = snap.model(req.model_version).ok_or_else(|| {
            Status::not_found(format!(
                "model version {} is not held (current is {})",
                req.model_version, snap.model_version
            ))
        })?;
        self.shared.add_bytes_down(model.len());
        let chunks = model
            .model_chunks(req.model_version, DEFAULT_CHUNK_SIZE)
            .map(Ok::<_, Status>);
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    async fn submit_update(
        &self,
        request: Request<Streaming<pb::UpdateChunk>>,
    ) -> Result<Response<pb::SubmitUpdateResponse>, Status> {
        let peer = self.peer_id(&request)?;
        let mut stream = request.into_inner();
        let idle = Duration::from_millis(self.shared.cfg.limits.stream_idle_timeout_ms);
        let idle_status = || {
            self.shared.count_rejection("stream_idle");
            Status::deadline_exceeded(format!(
                "the update stream was idle for {} ms",
                idle.as_millis()
            ))
        };
        let header = tokio::time::timeout(
            idle,
            read_update_header(&mut stream, self.shared.max_update_bytes),
        )
        .await
        .map_err(|_| idle_status())?;
        let rx = match header {
            Ok(rx) => rx,
            Err(s) => {
                self.shared.count_rejection("bad_stream");
                return Err(s);
            }
        };
        let Some(h) = rx.header().cloned() else {
            return Err(Status::failed_precondition("stream has no header"));
        };
        let client = self
            .authenticate(&h.session_token, &h.client_id, &peer)
            .await?;
        let snap = self.shared.snap();
        self.check_header(&snap, &client, &h)?;
        let (h, bytes) = match read_update_body_idle(&mut stream, rx, idle)
            .await
            .map_err(|_| idle_status())?
        {
            Ok(x) => x,
            Err(s) => {
                self.shared.count_rejection("bad_stream");
                debug!(client = %client, "update stream failed: {s}");
                return Err(s);
            }
        };
        let len = self.shared.layout.len();
        let delta = match fl_core::codec::decode(&bytes, len) {
            Ok(d) => d,
            Err(e) => {
                self.shared.count_rejection("bad_encoding");
                return Err(Status::invalid_argument(format!(
                    "cannot decode the update: {e}"
                )));
            }
        };
        let update = Update {
            client: client.clone(),
            round: h.round,
            model_version: h.model_version,
            num_examples: h.num_examples,
            delta,
            train_loss: h.train_loss,
            train_accuracy: h.train_accuracy,
            epsilon_spent: (h.epsilon_spent > 0.0).then_some(h.epsilon_spent),
        };
        let (tx, verdict) = oneshot::channel();
        self.send(Command::Update {
            update,
            bytes: bytes.len() as u64,
            reply: tx,
        })
        .await?;
        match verdict.await {
            Ok(Ok(())) => Ok(Response::new(pb::SubmitUpdateResponse {
                accepted: true,
                message: String::new(),
            })),
            Ok(Err(e)) => Err(rejection_status(&e)),
            Err(_) => Err(self.closed_status()),
        }
    }

    async fn submit_evaluation(
        &self,
        request: Request<pb::EvaluationRequest>,
    ) -> Result<Response<pb::Ack>, Status> {
        let peer = self.peer_id(&request)?;
        let req = request.into_inner();
        let client = self
            .authenticate(&req.session_token, &req.client_id, &peer)
            .await?;
        let valid = (0.0..=1.0).contains(&req.accuracy) && req.loss.is_finite();
        if !valid {
            return Err(Status::invalid_argument(
                "accuracy must be in [0, 1] and loss finite",
            ));
        }
        if let Ok(mut e) = self.shared.evaluations.lock() {
            e.push((client, req.round, req.accuracy, req.loss));
        }
        Ok(Response::new(pb::Ack {
            accepted: true,
            message: String::new(),
        }))
    }
}

impl FederationService {
    /// Header checks made before any payload byte is read.
    fn check_header(
        &self,
        snap: &Snapshot,
        client: &str,
        h: &pb::UpdateHeader,
    ) -> Result<(), Status> {
        let reject = |reason: &str, s: Status| {
            self.shared.count_rejection(reason);
            Err(s)
        };
        let Some(open) = snap.open_round else {
            return reject(
                "no_open_round",
                rejection_status(&UpdateRejected::NoOpenRound),
            );
        };
        if h.round != open {
            let e = UpdateRejected::WrongRound {
                expected: open,
                got: h.round,
            };
            return reject(e.reason(), rejection_status(&e));
        }
        if h.model_version != snap.model_version {
            let e = UpdateRejected::WrongModelVersion {
                expected: snap.model_version,
                got: h.model_version,
            };
            return reject(e.reason(), rejection_status(&e));
        }
        if snap.submitted.contains(client) {
            let e = UpdateRejected::Duplicate(client.to_string());
            return reject(e.reason(), rejection_status(&e));
        }
        if !snap.tasks.contains_key(client) {
            let e = UpdateRejected::NotSelected(client.to_string());
            return reject(e.reason(), rejection_status(&e));
        }
        let codec = self.shared.codec.to_string();
        let same_codec = h.codec == codec || (h.codec.is_empty() && codec == "none");
        if !same_codec {
            return reject(
                "wrong_codec",
                Status::invalid_argument(format!("codec must be `{codec}`, got `{}`", h.codec)),
            );
        }
        let len = self.shared.layout.len() as u64;
        if h.num_params != len {
            let e = UpdateRejected::WrongLength {
                expected: len as usize,
                got: h.num_params as usize,
            };
            return reject(e.reason(), rejection_status(&e));
        }
        Ok(())
    }
}
