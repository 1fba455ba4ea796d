//! Bearer-key checks for mutating routes (always) and read routes (when configured).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

/// How to configure the key; repeated in every 403 caused by a missing configuration.
const HOW_TO_SET: &str = "no admin API key is configured, so mutating routes are disabled; \
set security.admin_api_key in the coordinator config or the FL_ADMIN_API_KEY environment variable";

/// Compares two secrets without an early exit: both are hashed to fixed-length SHA-256
/// digests (hiding the length) and the digests are compared with an OR-fold of XORs.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    let diff = da
        .iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Checks `Authorization: Bearer <key>` against the configured admin key.
fn check(parts: &Parts, configured: Option<&str>) -> Result<(), ApiError> {
    let Some(expected) = configured else {
        return Err(ApiError::Forbidden(HOW_TO_SET.to_owned()));
    };
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized("missing Authorization: Bearer <admin key> header".to_owned())
    })?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("Authorization header is not ASCII".to_owned()))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::Unauthorized("Authorization header must be `Bearer <admin key>`".to_owned())
        })?;
    if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("wrong admin API key".to_owned()))
    }
}

/// Extractor that admits a request only with the admin key.
pub(crate) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        check(parts, state.admin_key.as_deref()).map(|()| Admin)
    }
}

/// Extractor for read routes: admits everything unless `read_requires_key` is set.
pub(crate) struct Reader;

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.read_requires_key {
            check(parts, state.admin_key.as_deref())?;
        }
        Ok(Reader)
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_and_unequal_keys() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
