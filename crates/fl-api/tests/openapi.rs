//! The OpenAPI document lists exactly the served routes, and each of them answers.

mod common;

use std::collections::BTreeSet;

use common::*;

/// The routes of the API contract (docs/API.md).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/metrics"),
    ("get", "/api/v1/health"),
    ("get", "/api/v1/ready"),
    ("get", "/api/v1/run"),
    ("get", "/api/v1/rounds"),
    ("get", "/api/v1/rounds/{round}"),
    ("get", "/api/v1/clients"),
    ("get", "/api/v1/clients/{id}"),
    ("get", "/api/v1/privacy"),
    ("get", "/api/v1/models"),
    ("get", "/api/v1/models/{round}"),
    ("post", "/api/v1/training/start"),
    ("post", "/api/v1/training/pause"),
    ("post", "/api/v1/training/resume"),
    ("post", "/api/v1/training/stop"),
    ("get", "/api/v1/openapi.json"),
];

fn concrete(path: &str) -> String {
    path.replace("{round}", "5").replace("{id}", "hospital-a")
}

#[tokio::test]
async fn openapi_lists_exactly_the_served_routes() {
    let app = app(Fake::new(), Some(KEY), true);
    let (s, doc) = json(&app, "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut listed = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                listed.insert((method.clone(), path.clone()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(listed, expected);

    // Every listed operation is served (with the key, since reads require it here).
    let auth = bearer(KEY);
    for (method, path) in &listed {
        let (status, _, _) = send(&app, &method.to_uppercase(), &concrete(path), Some(&auth)).await;
        assert!(
            status != 404 && status != 405,
            "{method} {path} is in openapi.json but answers {status}"
        );
        // The other common method on the same path is refused with a JSON 405, not served.
        let other = if method == "get" { "POST" } else { "GET" };
        let (status, _, _) = send(&app, other, &concrete(path), Some(&auth)).await;
        assert_eq!(status, 405, "{other} {path}");
    }
    assert!(
        doc["components"]["securitySchemes"]["admin_key"]["scheme"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer"))
    );
    for schema in [
        "RunStatus",
        "RoundInfo",
        "ClientInfo",
        "PrivacyOverview",
        "ModelInfo",
        "ErrorBody",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
}

#[test]
fn library_document_matches_the_served_one() {
    let doc = fl_api::openapi();
    let paths: BTreeSet<&str> = doc.paths.paths.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
    assert_eq!(paths, expected);
}
