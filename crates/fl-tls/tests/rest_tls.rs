//! axum over TLS with `serve_axum_tls`, driven by a hyper HTTP/1.1 client over tokio-rustls.

mod common;

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Router};
use common::Pki;
use fl_tls::{PeerCertificates, client_id_from_der_chain, rustls_server_config, serve_axum_tls};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

async fn whoami(peer: Option<Extension<PeerCertificates>>) -> String {
    match peer {
        Some(Extension(PeerCertificates(chain))) => match client_id_from_der_chain(&chain) {
            Ok(id) => format!("client {id}"),
            Err(e) => format!("error {e}"),
        },
        None => "anonymous".into(),
    }
}

async fn start(pki: &Pki, client_ca: Option<&str>) -> (u16, tokio::task::JoinHandle<()>) {
    let config = rustls_server_config(&pki.server("server", client_ca)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = Router::new().route("/whoami", get(whoami));
    let task = tokio::spawn(async move {
        serve_axum_tls(listener, router, config).await.unwrap();
    });
    (port, task)
}

/// GET /whoami over HTTP/1.1 on `io`; returns (status, body).
async fn get_whoami<S>(io: S) -> Result<(u16, String), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::get("/whoami")
        .header(hyper::header::HOST, "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    ))
}

async fn tls_get(pki: &Pki, port: u16, client: Option<&str>) -> Result<(u16, String), String> {
    let cfg = pki.rustls_client(&pki.client("ca.pem", client));
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::clone(&cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    get_whoami(tls).await
}

#[tokio::test]
async fn rest_over_tls_works() {
    let pki = Pki::new();
    let (port, task) = start(&pki, None).await;
    assert_eq!(
        tls_get(&pki, port, None).await.unwrap(),
        (200, "anonymous".to_string())
    );
    task.abort();
}

#[tokio::test]
async fn plain_http_to_tls_port_fails() {
    let pki = Pki::new();
    let (port, task) = start(&pki, None).await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let result = get_whoami(tcp).await;
    assert!(result.is_err(), "plain HTTP got an answer: {result:?}");
    // The server is still healthy for TLS clients afterwards.
    assert_eq!(tls_get(&pki, port, None).await.unwrap().0, 200);
    task.abort();
}

#[tokio::test]
async fn rest_mtls_binds_client_id_and_refuses_anonymous() {
    let pki = Pki::new();
    let (port, task) = start(&pki, Some("ca.pem")).await;
    assert_eq!(
        tls_get(&pki, port, Some("client-002")).await.unwrap(),
        (200, "client client-002".to_string())
    );
    // TLS 1.3: the client may finish its side of the handshake before the server's
    // certificate-required alert arrives, so the failure can show up on the request.
    assert!(tls_get(&pki, port, None).await.is_err());
    assert!(tls_get(&pki, port, Some("other-client")).await.is_err());
    task.abort();
}
