//! Real TLS / mTLS handshakes on 127.0.0.1 with a tiny tonic health service whose `check`
//! records the client id read from the peer certificate.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Pki;
use fl_tls::{ClientTlsSettings, TlsConfig, client_id_from_peer_certs, client_tls, server_tls};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// Records the outcome of `client_id_from_peer_certs` for the last call.
#[derive(Default, Clone)]
struct Svc {
    seen: Arc<Mutex<Vec<Result<String, String>>>>,
}

#[tonic::async_trait]
impl Health for Svc {
    async fn check(
        &self,
        req: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let id = client_id_from_peer_certs(&req).map_err(|e| e.to_string());
        self.seen.lock().unwrap().push(id);
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    type WatchStream = tonic::codegen::tokio_stream::Empty<Result<HealthCheckResponse, Status>>;

    async fn watch(
        &self,
        _req: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch"))
    }
}

/// Starts the server on an ephemeral port; returns its port and the recorder.
async fn start(cfg: &TlsConfig) -> (u16, Svc, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let svc = Svc::default();
    let router = Server::builder()
        .tls_config(server_tls(cfg).unwrap())
        .unwrap()
        .add_service(HealthServer::new(svc.clone()));
    let task = tokio::spawn(async move {
        router
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    (port, svc, task)
}

/// Connects and calls `check`; any failure (connect, handshake, RPC) becomes `Err`.
async fn call(port: u16, settings: &ClientTlsSettings) -> Result<i32, String> {
    let channel = Channel::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(client_tls(settings).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let resp = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(|e| format!("rpc: {e:?}"))?;
    Ok(resp.into_inner().status)
}

#[tokio::test]
async fn tls_works_end_to_end_without_client_cert() {
    let pki = Pki::new();
    let (port, svc, task) = start(&pki.server("server", None)).await;
    let status = call(port, &pki.client("ca.pem", None)).await.unwrap();
    assert_eq!(status, ServingStatus::Serving as i32);
    // TLS without a client certificate: the handler sees no identity.
    assert_eq!(
        svc.seen.lock().unwrap().as_slice(),
        &[Err("no client certificate on this connection".to_string())]
    );
    task.abort();
}

#[tokio::test]
async fn client_trusting_another_ca_fails_handshake() {
    let pki = Pki::new();
    let (port, svc, task) = start(&pki.server("server", None)).await;
    let err = call(port, &pki.client("other-ca.pem", None))
        .await
        .unwrap_err();
    assert!(err.contains("connect"), "{err}");
    assert!(svc.seen.lock().unwrap().is_empty());
    task.abort();
}

#[tokio::test]
async fn wrong_server_name_fails_handshake() {
    let pki = Pki::new();
    let (port, _svc, task) = start(&pki.server("server", None)).await;
    let mut settings = pki.client("ca.pem", None);
    settings.domain = "coordinator.example".into();
    assert!(call(port, &settings).await.is_err());
    task.abort();
}

#[tokio::test]
async fn expired_server_certificate_is_refused() {
    let pki = Pki::new();
    let (port, svc, task) = start(&pki.server("expired/server", None)).await;
    let err = call(port, &pki.client("expired/ca.pem", None))
        .await
        .unwrap_err();
    assert!(err.contains("connect"), "{err}");
    assert!(svc.seen.lock().unwrap().is_empty());
    task.abort();
}

#[tokio::test]
async fn mtls_without_client_certificate_is_refused() {
    let pki = Pki::new();
    let (port, svc, task) = start(&pki.server("server", Some("ca.pem"))).await;
    assert!(call(port, &pki.client("ca.pem", None)).await.is_err());
    assert!(svc.seen.lock().unwrap().is_empty(), "handler must not run");
    task.abort();
}

#[tokio::test]
async fn mtls_client_certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let (port, svc, task) = start(&pki.server("server", Some("ca.pem"))).await;
    assert!(
        call(port, &pki.client("ca.pem", Some("other-client")))
            .await
            .is_err()
    );
    assert!(svc.seen.lock().unwrap().is_empty(), "handler must not run");
    task.abort();
}

#[tokio::test]
async fn mtls_expired_client_certificate_is_refused() {
    let pki = Pki::new();
    // Server trusts the "expired" PKI's CA (valid) but the client cert it issued has expired.
    let mut cfg = pki.server("server", None);
    cfg.client_ca = Some(pki.path("expired/ca.pem"));
    let (port, svc, task) = start(&cfg).await;
    assert!(
        call(port, &pki.client("ca.pem", Some("expired/client-001")))
            .await
            .is_err()
    );
    assert!(svc.seen.lock().unwrap().is_empty(), "handler must not run");
    task.abort();
}

#[tokio::test]
async fn mtls_client_id_comes_from_the_certificate() {
    let pki = Pki::new();
    let (port, svc, task) = start(&pki.server("server", Some("ca.pem"))).await;
    for id in ["client-001", "client-002"] {
        let status = call(port, &pki.client("ca.pem", Some(id))).await.unwrap();
        assert_eq!(status, ServingStatus::Serving as i32);
    }
    assert_eq!(
        svc.seen.lock().unwrap().as_slice(),
        &[Ok("client-001".to_string()), Ok("client-002".to_string())]
    );
    task.abort();
}

#[tokio::test]
async fn plaintext_client_cannot_talk_to_tls_server() {
    let pki = Pki::new();
    let (port, svc, task) = start(&pki.server("server", None)).await;
    let result = async {
        let ch = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        HealthClient::new(ch)
            .check(HealthCheckRequest::default())
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    assert!(result.is_err());
    assert!(svc.seen.lock().unwrap().is_empty());
    task.abort();
}
