//! Typed errors. Every file error names the path so an operator can fix the config.

use std::path::PathBuf;

/// Failure to load or assemble a TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file does not exist or cannot be read.
    #[error("cannot read {what} file {path}: {source}")]
    Read {
        /// What the file was meant to hold ("certificate", "private key", "CA certificate").
        what: &'static str,
        /// The path as configured.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but holds no usable PEM item of the expected kind.
    #[error("invalid {what} PEM in {path}: {reason}")]
    InvalidPem {
        /// What the file was meant to hold.
        what: &'static str,
        /// The path as configured.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// rustls refused the assembled configuration (e.g. the key does not match the certificate).
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
    /// Inconsistent settings (e.g. a client certificate without its key, an empty domain).
    #[error("invalid TLS settings: {0}")]
    InvalidSettings(String),
    /// The client-certificate verifier could not be built (e.g. an unusable CA certificate).
    #[error("client CA rejected: {0}")]
    ClientVerifier(String),
}

/// Failure to derive a client identity from the peer's certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The connection is not TLS or the client presented no certificate.
    #[error("no client certificate on this connection")]
    NoCertificate,
    /// The leaf certificate could not be parsed as X.509.
    #[error("client certificate cannot be parsed: {0}")]
    Parse(String),
    /// The certificate carries neither a `urn:fl:client:` URI SAN nor a subject CN.
    #[error("client certificate names no client id (no urn:fl:client: URI SAN and no CN)")]
    NoIdentity,
    /// The URI SAN and the CN name different clients.
    #[error("client certificate is ambiguous: URI SAN names {uri:?} but CN is {cn:?}")]
    Ambiguous {
        /// Id from the URI SAN.
        uri: String,
        /// Id from the subject CN.
        cn: String,
    },
    /// The name found is not a valid client id (see [`crate::validate_client_id`]).
    #[error("client certificate names an invalid client id {0:?}")]
    InvalidId(String),
}

/// Failure while generating development certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertGenError {
    /// A bad argument (client id, server name, validity).
    #[error("{0}")]
    BadArgument(String),
    /// A target file exists and `force` was not given.
    #[error("{0} already exists (use --force to overwrite)")]
    Exists(PathBuf),
    /// Writing a file or creating the directory failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// rcgen failed to build or sign a certificate.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
}
