//! Client identity from the peer certificate, so the coordinator can bind a client id to the
//! certificate that authenticated the connection.
//!
//! Rule: the id is the `urn:fl:client:<id>` URI SAN if present, otherwise the subject CN. If
//! both are present they must agree. The chain itself was already verified by rustls against
//! the configured client CA; this only reads names from the verified leaf.

use rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;

use crate::IdentityError;

/// URI SAN prefix that marks a federation client id.
pub const CLIENT_URI_PREFIX: &str = "urn:fl:client:";

/// Longest accepted client id.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// Checks a client id: 1..=64 ASCII letters, digits, `.`, `_` or `-`, not starting with `.`
/// or `-`. The restriction keeps ids safe in file names, SANs and log lines.
pub fn validate_client_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_CLIENT_ID_LEN {
        return Err(format!(
            "client id {id:?} must be 1 to {MAX_CLIENT_ID_LEN} characters"
        ));
    }
    if id.starts_with(['.', '-']) {
        return Err(format!("client id {id:?} must not start with '.' or '-'"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "client id {id:?} contains {c:?}; allowed: ASCII letters, digits, '.', '_', '-'"
        ));
    }
    Ok(())
}

/// Derives the client id from a DER certificate chain (leaf first), as rustls hands it over.
pub fn client_id_from_der_chain(chain: &[CertificateDer<'_>]) -> Result<String, IdentityError> {
    let leaf = chain.first().ok_or(IdentityError::NoCertificate)?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| IdentityError::Parse(e.to_string()))?;

    let mut uri_id = None;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name
                && let Some(id) = uri.strip_prefix(CLIENT_URI_PREFIX)
            {
                uri_id = Some(id.to_owned());
                break;
            }
        }
    }
    let cn = match cert.subject().iter_common_name().next() {
        Some(attr) => Some(
            attr.as_str()
                .map_err(|e| IdentityError::Parse(format!("subject CN: {e}")))?
                .to_owned(),
        ),
        None => None,
    };
    let id = match (uri_id, cn) {
        (Some(uri), Some(cn)) if uri != cn => return Err(IdentityError::Ambiguous { uri, cn }),
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => return Err(IdentityError::NoIdentity),
    };
    validate_client_id(&id).map_err(|_| IdentityError::InvalidId(id.clone()))?;
    Ok(id)
}

/// Derives the client id from the verified certificate of a tonic request's peer.
///
/// Works in handlers and in interceptors (the TLS info travels in the request extensions).
/// Returns [`IdentityError::NoCertificate`] on plain-text connections and for TLS clients that
/// sent no certificate (only possible when the server does not require mutual TLS).
pub fn client_id_from_peer_certs<T>(request: &tonic::Request<T>) -> Result<String, IdentityError> {
    let certs = request.peer_certs().ok_or(IdentityError::NoCertificate)?;
    client_id_from_der_chain(&certs)
}

/// Maps an identity failure to the gRPC status a coordinator should return.
pub fn identity_status(err: &IdentityError) -> tonic::Status {
    tonic::Status::unauthenticated(err.to_string())
}
