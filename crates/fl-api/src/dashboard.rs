//! The embedded operator dashboard: one HTML page with its CSS and JS inlined at compile time
//! (nothing external, no CDN). A strict Content-Security-Policy allows exactly the inlined
//! script and style by their SHA-256 hashes.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const TEMPLATE: &str = include_str!("../dashboard/index.html");
const STYLE: &str = include_str!("../dashboard/style.css");
const SCRIPT: &str = include_str!("../dashboard/app.js");

struct Page {
    html: String,
    csp: String,
}

static PAGE: LazyLock<Page> = LazyLock::new(|| Page {
    html: TEMPLATE
        .replacen("/*STYLE*/", STYLE, 1)
        .replacen("/*SCRIPT*/", SCRIPT, 1),
    csp: format!(
        "default-src 'none'; connect-src 'self'; img-src 'self' data:; \
         script-src 'sha256-{}'; style-src 'sha256-{}'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'",
        base64(&Sha256::digest(SCRIPT)),
        base64(&Sha256::digest(STYLE))
    ),
});

/// The dashboard response (HTML with CSP headers).
pub(crate) fn page() -> Response {
    let mut resp = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        PAGE.html.clone(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&PAGE.csp) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// Standard base64 with padding (RFC 4648 §4), enough for CSP hashes.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn page_inlines_assets_and_has_no_external_references() {
        assert!(!PAGE.html.contains("/*STYLE*/") && !PAGE.html.contains("/*SCRIPT*/"));
        assert!(PAGE.html.contains(SCRIPT) && PAGE.html.contains(STYLE));
        // The SVG namespace is an identifier, not a fetch.
        let html = PAGE.html.replace("http://www.w3.org/2000/svg", "");
        for banned in ["http://", "https://", "src=\"//", "<link", "@import"] {
            assert!(!html.contains(banned), "dashboard references {banned}");
        }
    }
}
