//! URL helpers: classify database URLs and strip passwords before they reach a message.

/// Returns `url` with the password of its `user:password@` part replaced by `***`.
///
/// Used in every error message that names a URL. URLs without credentials come back unchanged.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let auth_start = scheme_end + 3;
    let rest = &url[auth_start..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..auth_start],
            &userinfo[..colon],
            &url[auth_start + at..]
        ),
        None => url.to_string(),
    }
}

/// The path part of a SQLite URL, or `None` for an in-memory database.
pub(crate) fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db?x=1"),
            "postgres://u:***@h:5432/db?x=1"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
        // An '@' after the authority is not a credential separator.
        assert_eq!(
            redact_url("postgres://h/db?a=b:c@d"),
            "postgres://h/db?a=b:c@d"
        );
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://a/b/fl.db?mode=rwc"),
            Some("a/b/fl.db")
        );
        assert_eq!(sqlite_path("sqlite:///tmp/fl.db"), Some("/tmp/fl.db"));
        assert_eq!(sqlite_path("sqlite:fl.db"), Some("fl.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite://:memory:"), None);
    }
}
