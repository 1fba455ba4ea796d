//! Client enrollment: who may register, checked at `Register` before a session exists.
//!
//! The enrollment file (`security.clients_file`) maps client ids to the SHA-256 of their
//! bearer token, so the coordinator never stores the tokens themselves:
//!
//! ```yaml
//! client-001:
//!   token_sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
//!   expires_unix: 1893456000   # optional
//!   revoked: false             # optional
//! ```
//!
//! `printf %s "$TOKEN" | sha256sum` makes the hash. With mutual TLS the
//! certificate identity is checked too (see [`check_certificate`]).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tonic::Status;

use crate::error::CoordinatorError;

/// One enrolled client.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    /// Lower-case hex SHA-256 of the client's token.
    pub token_sha256: String,
    /// Unix time after which the enrollment is no longer valid.
    #[serde(default)]
    pub expires_unix: Option<u64>,
    /// A revoked client is refused even with the right token.
    #[serde(default)]
    pub revoked: bool,
}

/// The enrolled clients, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Enrollments(HashMap<String, Enrollment>);

impl Enrollments {
    /// Reads and checks an enrollment file.
    ///
    /// # Errors
    /// [`CoordinatorError::Config`] naming the file when it is missing, not YAML of the
    /// expected shape, or holds a hash that is not 64 hex digits.
    pub fn load(path: &Path) -> Result<Self, CoordinatorError> {
        let err = |m: String| {
            CoordinatorError::Config(format!("security.clients_file {}: {m}", path.display()))
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::parse(&text).map_err(err)
    }

    /// Parses the YAML text of an enrollment file.
    ///
    /// # Errors
    /// A message when the text is not a map of client ids to [`Enrollment`]s.
    pub fn parse(text: &str) -> Result<Self, String> {
        let map: HashMap<String, Enrollment> =
            serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        for (id, e) in &map {
            if e.token_sha256.len() != 64 || !e.token_sha256.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(format!("{id}: token_sha256 must be 64 hex digits"));
            }
        }
        Ok(Self(map))
    }

    /// Number of enrolled clients.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nobody is enrolled.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks a registration: `Ok` when `client_id` is enrolled, not revoked, not expired at
    /// `now_unix`, and `token` hashes to its `token_sha256`.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` for an unknown id, a wrong token or an expired enrollment;
    /// `PERMISSION_DENIED` for a revoked one. The message never echoes the token.
    pub fn check(&self, client_id: &str, token: &str, now_unix: u64) -> Result<(), Status> {
        let Some(e) = self.0.get(client_id) else {
            return Err(Status::unauthenticated(format!(
                "client `{client_id}` is not enrolled"
            )));
        };
        if e.revoked {
            return Err(Status::permission_denied(format!(
                "client `{client_id}` is revoked"
            )));
        }
        if e.expires_unix.is_some_and(|t| now_unix >= t) {
            return Err(Status::unauthenticated(format!(
                "the enrollment of `{client_id}` expired"
            )));
        }
        let got = hex(&Sha256::digest(token.as_bytes()));
        // Equal-time comparison of the two hashes.
        let want = e.token_sha256.to_ascii_lowercase();
        let diff = got
            .bytes()
            .zip(want.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if token.is_empty() || diff != 0 {
            return Err(Status::unauthenticated(format!(
                "wrong or missing token for `{client_id}`"
            )));
        }
        Ok(())
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// With mutual TLS: the identity of the verified client certificate must be the id the
/// client registers as, so one enrolled machine cannot act for another.
///
/// # Errors
/// `UNAUTHENTICATED` when there is no usable certificate identity, `PERMISSION_DENIED` when
/// it names another client.
pub fn check_certificate<T>(request: &tonic::Request<T>, client_id: &str) -> Result<(), Status> {
    let id = fl_tls::client_id_from_peer_certs(request).map_err(|e| fl_tls::identity_status(&e))?;
    if id != client_id {
        return Err(Status::permission_denied(format!(
            "the client certificate is for `{id}`, not `{client_id}`"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(hash: &str) -> String {
        format!(
            "a:\n  token_sha256: {hash}\nb:\n  token_sha256: {hash}\n  revoked: true\n\
             c:\n  token_sha256: {hash}\n  expires_unix: 100\n"
        )
    }

    #[test]
    fn checks_id_token_revocation_and_expiry() {
        let h = hex(&Sha256::digest(b"s3cret"));
        let e = Enrollments::parse(&file(&h)).unwrap();
        assert_eq!(e.len(), 3);
        assert!(e.check("a", "s3cret", 50).is_ok());
        assert_eq!(
            e.check("a", "wrong", 50).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            e.check("a", "", 50).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            e.check("zz", "s3cret", 50).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            e.check("b", "s3cret", 50).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        assert!(e.check("c", "s3cret", 99).is_ok());
        let exp = e.check("c", "s3cret", 100).unwrap_err();
        assert_eq!(exp.code(), tonic::Code::Unauthenticated);
        assert!(exp.message().contains("expired"));
        assert!(!exp.message().contains("s3cret"));
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(Enrollments::parse("a:\n  token_sha256: abc\n").is_err());
        assert!(Enrollments::parse("a:\n  token: x\n").is_err());
        assert!(Enrollments::parse("- just a list\n").is_err());
        let err = Enrollments::load(Path::new("/nonexistent/clients.yaml")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/clients.yaml"));
    }
}
