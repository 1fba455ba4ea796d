//! A minimal `Federation` server on 127.0.0.1 for the loopback test and bench: it serves one
//! model through `DownloadModel` and verifies uploads through `SubmitUpdate` with the crate's
//! helpers; the other RPCs answer UNIMPLEMENTED.

use std::net::SocketAddr;
use std::pin::Pin;

use fl_proto::pb;
use fl_proto::pb::federation_client::FederationClient;
use fl_proto::pb::federation_server::{Federation, FederationServer};
use fl_proto::{
    DEFAULT_CHUNK_SIZE, Payload, le_bytes_to_f32s, read_update_body, read_update_header, sha256_hex,
};
use tokio_stream::Stream;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status, Streaming};

/// The only session token the server accepts.
pub const GOOD_TOKEN: &str = "session-ok";

struct TestFederation {
    model: Payload,
    max_update: u64,
    decode: bool,
}

type ModelStream = Pin<Box<dyn Stream<Item = Result<pb::ModelChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Federation for TestFederation {
    type DownloadModelStream = ModelStream;

    async fn download_model(
        &self,
        request: Request<pb::DownloadModelRequest>,
    ) -> Result<Response<ModelStream>, Status> {
        let version = request.into_inner().model_version;
        let chunks = self.model.model_chunks(version, DEFAULT_CHUNK_SIZE).map(Ok);
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    /// Replies `"<num params> <sha256> <sum of params>"` so callers can check what arrived
    /// (with `decode` off: `"<bytes> <sha256>"`, skipping the f32 decoding).
    async fn submit_update(
        &self,
        request: Request<Streaming<pb::UpdateChunk>>,
    ) -> Result<Response<pb::SubmitUpdateResponse>, Status> {
        let mut stream = request.into_inner();
        let rx = read_update_header(&mut stream, self.max_update).await?;
        // The header is checked before any data is read.
        if rx.header().is_some_and(|h| h.session_token != GOOD_TOKEN) {
            return Err(Status::unauthenticated("unknown session"));
        }
        let (header, bytes) = read_update_body(&mut stream, rx).await?;
        if !self.decode {
            return Ok(Response::new(pb::SubmitUpdateResponse {
                accepted: true,
                message: format!("{} {}", bytes.len(), header.sha256),
            }));
        }
        let params = le_bytes_to_f32s(&bytes)?;
        if params.len() as u64 != header.num_params {
            return Err(Status::invalid_argument(
                "num_params does not match the payload",
            ));
        }
        let sum: f64 = params.iter().map(|&p| f64::from(p)).sum();
        Ok(Response::new(pb::SubmitUpdateResponse {
            accepted: true,
            message: format!("{} {} {sum}", params.len(), sha256_hex(&bytes)),
        }))
    }

    async fn register(
        &self,
        _: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn heartbeat(
        &self,
        _: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn get_task(
        &self,
        _: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::GetTaskResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn submit_evaluation(
        &self,
        _: Request<pb::EvaluationRequest>,
    ) -> Result<Response<pb::Ack>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

/// Starts the server on an ephemeral port and returns a connected client. With `decode`, the
/// server also decodes each update as f32 and replies with their sum.
pub async fn start(model: Payload, max_update: u64, decode: bool) -> FederationClient<Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let service = FederationServer::new(TestFederation {
        model,
        max_update,
        decode,
    });
    tokio::spawn(
        Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    FederationClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

/// A header for an update of `num_params` raw f32 values (total_len and sha256 are filled by
/// `Payload::update_chunks`).
pub fn header(num_params: u64) -> pb::UpdateHeader {
    pb::UpdateHeader {
        session_token: GOOD_TOKEN.into(),
        client_id: "client-1".into(),
        round: 1,
        model_version: 1,
        num_examples: 600,
        codec: "none".into(),
        num_params,
        ..Default::default()
    }
}
