//! PEM loading with errors that name the file.
//!
//! tonic only parses PEM when the server or channel starts, with an error that does not say
//! which file was wrong; loading through here first makes misconfiguration fail early and clearly.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;

/// Reads a file whole, mapping I/O errors to [`TlsError::Read`].
pub(crate) fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path, what: &'static str, reason: impl Into<String>) -> TlsError {
    TlsError::InvalidPem {
        what,
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Parses every `CERTIFICATE` block; at least one is required.
pub(crate) fn parse_certs(
    bytes: &[u8],
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, what, e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid(path, what, "no CERTIFICATE block found"));
    }
    for (i, c) in certs.iter().enumerate() {
        x509_parser::parse_x509_certificate(c.as_ref())
            .map_err(|e| invalid(path, what, format!("certificate #{i} is not X.509: {e}")))?;
    }
    Ok(certs)
}

/// Parses the first private key (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn parse_key(bytes: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| {
        invalid(
            path,
            "private key",
            format!("no PKCS#8, PKCS#1 or SEC1 private key ({e})"),
        )
    })
}

/// Reads and parses a certificate chain file.
pub(crate) fn load_certs(
    path: &Path,
    what: &'static str,
) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), TlsError> {
    let bytes = read(path, what)?;
    let certs = parse_certs(&bytes, path, what)?;
    Ok((bytes, certs))
}

/// Reads and parses a private key file.
pub(crate) fn load_key(path: &Path) -> Result<(Vec<u8>, PrivateKeyDer<'static>), TlsError> {
    let bytes = read(path, "private key")?;
    let key = parse_key(&bytes, path)?;
    Ok((bytes, key))
}
