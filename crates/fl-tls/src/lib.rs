//! TLS and mutual TLS for the federation's gRPC (tonic) and REST (axum) servers.
//!
//! * [`server_tls`] / [`client_tls`]: tonic configs from PEM files ([`TlsConfig`],
//!   [`ClientTlsSettings`]); `client_ca: Some(..)` makes client certificates mandatory.
//! * [`rustls_server_config`] + [`serve_axum_tls`]: the same settings for an axum router.
//! * [`client_id_from_peer_certs`]: the client id bound to a verified client certificate.
//! * [`devcerts`]: a throw-away CA, server and client certificates (also the `fl-certs` binary).
//!
//! Only rustls' ring provider is used; [`install_crypto_provider`] makes it the process default.

mod config;
pub mod devcerts;
mod error;
mod identity;
mod pem;
mod rest;

pub use config::{
    ClientTlsSettings, TlsConfig, client_tls, install_crypto_provider, rustls_server_config,
    server_tls,
};
pub use error::{CertGenError, IdentityError, TlsError};
pub use identity::{
    CLIENT_URI_PREFIX, MAX_CLIENT_ID_LEN, client_id_from_der_chain, client_id_from_peer_certs,
    identity_status, validate_client_id,
};
pub use rest::{HANDSHAKE_TIMEOUT, PeerCertificates, serve_axum_tls, serve_axum_tls_with_shutdown};
