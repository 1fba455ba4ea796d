//! axum over TLS: tokio-rustls does the handshake, hyper-util serves HTTP/1.1 and HTTP/2 on the
//! decrypted stream. axum's own `serve` has no TLS, and axum-server would be one more crate for
//! the same few lines.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to finish the TLS handshake before the connection is dropped,
/// so idle half-open sockets do not pile up.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The verified client certificate chain of the connection, added to every request's
/// extensions when the client presented one. Read it in a handler with
/// `Option<axum::Extension<PeerCertificates>>` and pass it to
/// [`crate::client_id_from_der_chain`].
#[derive(Debug, Clone)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

/// Serves `router` over TLS on `listener` until the task is dropped or aborted.
pub async fn serve_axum_tls(
    listener: TcpListener,
    router: Router,
    config: Arc<rustls::ServerConfig>,
) -> std::io::Result<()> {
    serve_axum_tls_with_shutdown(listener, router, config, std::future::pending()).await
}

/// Like [`serve_axum_tls`], but stops accepting when `shutdown` completes. Connections already
/// accepted run to completion on their own tasks.
///
/// A failed handshake or connection is logged at debug level and affects only that client;
/// accept errors are logged and retried, so the result is `Ok` once `shutdown` completes.
pub async fn serve_axum_tls_with_shutdown(
    listener: TcpListener,
    router: Router,
    config: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Per-connection errors (e.g. the peer reset before accept) are not fatal.
                Err(e) if is_transient(&e) => {
                    tracing::debug!(error = %e, "accept failed");
                    continue;
                }
                // E.g. out of file descriptors: back off instead of spinning or dying.
                Err(e) => {
                    tracing::error!(error = %e, "accept failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let router = match tls.get_ref().1.peer_certificates() {
                Some(certs) => router.layer(axum::Extension(PeerCertificates(Arc::new(
                    certs.iter().map(|c| c.clone().into_owned()).collect(),
                )))),
                None => router,
            };
            let service = TowerToHyperService::new(router);
            if let Err(e) = Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    )
}
