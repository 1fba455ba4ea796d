//! Configuration types and the builders for tonic (gRPC) and rustls (REST).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::{TlsError, pem};

/// Server-side TLS settings (gRPC and REST share them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the server, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the server (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificate(s) that sign client certificates. `Some` makes mutual TLS
    /// mandatory: a client without a certificate from one of these CAs is refused in the
    /// handshake.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// Client-side TLS settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsSettings {
    /// PEM CA certificate(s) trusted for the server certificate (only these; no system roots).
    pub ca: PathBuf,
    /// PEM client certificate for mutual TLS; must be given together with `key`.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// PEM private key for `cert`.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Name the server certificate must carry (DNS or IP SAN), e.g. `localhost`.
    pub domain: String,
}

/// Installs rustls' ring provider as the process default.
///
/// Idempotent: a second call, or a provider installed by someone else, is not an error. Call it
/// at start-up before building any TLS config; it matters as soon as a second provider
/// (aws-lc-rs) is compiled in, because rustls then cannot choose one by itself.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds tonic's server TLS config. All files are read and validated now, so a wrong path or
/// a bad PEM fails here with the path in the error rather than at `serve` time.
pub fn server_tls(cfg: &TlsConfig) -> Result<ServerTlsConfig, TlsError> {
    install_crypto_provider();
    let (cert_pem, _) = pem::load_certs(&cfg.cert, "certificate")?;
    let (key_pem, _) = pem::load_key(&cfg.key)?;
    // Let rustls check that key and certificate belong together.
    rustls_server_config(cfg)?;
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem));
    if let Some(ca) = &cfg.client_ca {
        let (ca_pem, _) = pem::load_certs(ca, "client CA certificate")?;
        tls = tls
            .client_ca_root(Certificate::from_pem(ca_pem))
            .client_auth_optional(false);
    }
    Ok(tls)
}

/// Builds tonic's client TLS config: trusts only `settings.ca`, checks the server name against
/// `settings.domain`, and presents a client certificate when `cert` and `key` are set.
pub fn client_tls(settings: &ClientTlsSettings) -> Result<ClientTlsConfig, TlsError> {
    install_crypto_provider();
    if settings.domain.trim().is_empty() {
        return Err(TlsError::InvalidSettings(
            "client TLS domain (server name) is empty".into(),
        ));
    }
    let (ca_pem, _) = pem::load_certs(&settings.ca, "CA certificate")?;
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name(settings.domain.clone());
    match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => {
            let (cert_pem, certs) = pem::load_certs(cert, "client certificate")?;
            let (key_pem, key_der) = pem::load_key(key)?;
            // Catch a key that does not match the certificate before the first handshake.
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_client_auth_cert(certs, key_der)?;
            tls = tls.identity(Identity::from_pem(cert_pem, key_pem));
        }
        (None, None) => {}
        _ => {
            return Err(TlsError::InvalidSettings(
                "client TLS: `cert` and `key` must be given together".into(),
            ));
        }
    }
    Ok(tls)
}

/// Builds a rustls server config (ring provider, TLS 1.2 and 1.3, ALPN h2 + http/1.1) for the
/// REST server; with `client_ca` set, client certificates are mandatory.
pub fn rustls_server_config(cfg: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (_, certs) = pem::load_certs(&cfg.cert, "certificate")?;
    let (_, key) = pem::load_key(&cfg.key)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &cfg.client_ca {
        Some(ca) => {
            let (_, ca_certs) = pem::load_certs(ca, "client CA certificate")?;
            let mut roots = rustls::RootCertStore::empty();
            for c in ca_certs {
                roots
                    .add(c)
                    .map_err(|e| TlsError::ClientVerifier(format!("{}: {e}", ca.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::ClientVerifier(format!("{}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
