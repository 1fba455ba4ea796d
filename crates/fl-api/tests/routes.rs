//! Every route: happy path and bad input, against the in-memory fake.

mod common;

use common::*;
use fl_api::TrainingState;

#[tokio::test]
async fn probes() {
    let app = app(Fake::new(), None, true);
    let (s, v) = json(&app, "GET", "/api/v1/health", None).await;
    assert_eq!((s.as_u16(), v["status"].as_str()), (200, Some("ok")));
    let (s, v) = json(&app, "GET", "/api/v1/ready", None).await;
    assert_eq!((s.as_u16(), v["status"].as_str()), (200, Some("ready")));

    let mut fake = Fake::new();
    Arc::get_mut(&mut fake).unwrap().ready = false;
    let app = common::app(fake, Some(KEY), false);
    expect_error(&app, "GET", "/api/v1/ready", None, 503, "unavailable").await;
    // Liveness stays up when not ready.
    let (s, _) = json(&app, "GET", "/api/v1/health", None).await;
    assert_eq!(s, 200);
}

use std::sync::Arc;

#[tokio::test]
async fn read_routes_serve_the_fake_state() {
    let app = app(Fake::new(), Some(KEY), false);
    let (s, run) = json(&app, "GET", "/api/v1/run", None).await;
    assert_eq!(s, 200);
    assert_eq!(run["run_id"], "run-0001");
    assert_eq!(run["phase"], "training");
    assert_eq!(run["training_state"], "running");
    assert_eq!(run["total_rounds"], 20);

    let (s, rounds) = json(&app, "GET", "/api/v1/rounds", None).await;
    assert_eq!(s, 200);
    let rounds = rounds.as_array().unwrap();
    assert_eq!(rounds.len(), 5);
    assert_eq!(rounds[2]["dropped"], 1);
    assert_eq!(rounds[4]["accuracy"].as_f64(), Some(accuracy(5)));

    let (s, r3) = json(&app, "GET", "/api/v1/rounds/3", None).await;
    assert_eq!((s.as_u16(), r3["round"].as_u64()), (200, Some(3)));

    let (s, cs) = json(&app, "GET", "/api/v1/clients", None).await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = cs
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, CLIENTS.map(|c| c.0));

    let (s, c) = json(&app, "GET", "/api/v1/clients/lab-d", None).await;
    assert_eq!(s, 200);
    assert_eq!(c["budget_exhausted"], true);
    assert_eq!(c["budget_fraction"].as_f64(), Some(1.0));
    assert_eq!(c["capabilities"]["num_examples"], 15_000);

    let (s, p) = json(&app, "GET", "/api/v1/privacy", None).await;
    assert_eq!(s, 200);
    assert_eq!(p["epsilon_max"].as_f64(), Some(8.0));
    // clinic-c at 6.9/8 = 86 % and lab-d exhausted are at warning; only lab-d is exhausted.
    assert_eq!(p["clients_at_warning"], 2);
    assert_eq!(p["clients_exhausted"], 1);
    assert_eq!(p["clients"].as_array().unwrap().len(), 4);

    let (s, m) = json(&app, "GET", "/api/v1/models", None).await;
    assert_eq!(s, 200);
    assert_eq!(m[1]["round"], 5);
    assert_eq!(m[1]["size_bytes"], MODEL_BYTES.len());
}

#[tokio::test]
async fn model_download_is_octet_stream_attachment() {
    let app = app(Fake::new(), Some(KEY), false);
    let (s, h, body) = send(&app, "GET", "/api/v1/models/5", None).await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"model-round-5.safetensors\""
    );
    assert_eq!(body, MODEL_BYTES);
    expect_error(&app, "GET", "/api/v1/models/4", None, 404, "not_found").await;
    expect_error(&app, "GET", "/api/v1/models/x1", None, 400, "bad_request").await;
    // A store failure surfaces as a JSON 500.
    expect_error(&app, "GET", "/api/v1/models/13", None, 500, "internal").await;
}

#[tokio::test]
async fn malformed_and_unknown_ids() {
    let app = app(Fake::new(), Some(KEY), false);
    for bad in ["abc", "-1", "1.5", "%20", "99999999999999999999999", "0x10"] {
        let msg = expect_error(
            &app,
            "GET",
            &format!("/api/v1/rounds/{bad}"),
            None,
            400,
            "bad_request",
        )
        .await;
        assert!(msg.contains("round"), "{msg}");
    }
    expect_error(&app, "GET", "/api/v1/rounds/6", None, 404, "not_found").await;
    expect_error(&app, "GET", "/api/v1/rounds/0", None, 404, "not_found").await;
    expect_error(
        &app,
        "GET",
        "/api/v1/clients/nobody",
        None,
        404,
        "not_found",
    )
    .await;
    // Percent-encoded ids are decoded before lookup.
    expect_error(&app, "GET", "/api/v1/clients/a%2Fb", None, 404, "not_found").await;
    // Invalid UTF-8 in a path parameter is a client error, not a panic.
    expect_error(&app, "GET", "/api/v1/clients/%FF", None, 400, "bad_request").await;
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_json() {
    let app = app(Fake::new(), Some(KEY), false);
    expect_error(&app, "GET", "/api/v1/nope", None, 404, "not_found").await;
    expect_error(&app, "GET", "/api/v2/run", None, 404, "not_found").await;
    expect_error(
        &app,
        "GET",
        "/api/v1/rounds/1/extra",
        None,
        404,
        "not_found",
    )
    .await;
    expect_error(&app, "POST", "/api/v1/run", None, 405, "method_not_allowed").await;
    expect_error(
        &app,
        "DELETE",
        "/api/v1/clients/lab-d",
        None,
        405,
        "method_not_allowed",
    )
    .await;
    let auth = bearer(KEY);
    expect_error(
        &app,
        "GET",
        "/api/v1/training/stop",
        Some(&auth),
        405,
        "method_not_allowed",
    )
    .await;
    expect_error(&app, "PUT", "/metrics", None, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn commands_follow_the_state_machine() {
    let fake = Fake::new();
    let app = app(fake.clone(), Some(KEY), false);
    let auth = bearer(KEY);
    let (s, v) = json(&app, "POST", "/api/v1/training/pause", Some(&auth)).await;
    assert_eq!(
        (s.as_u16(), v["training_state"].as_str()),
        (200, Some("paused"))
    );
    assert_eq!(v["phase"], "paused");
    let msg = expect_error(
        &app,
        "POST",
        "/api/v1/training/pause",
        Some(&auth),
        409,
        "conflict",
    )
    .await;
    assert!(msg.contains("pause"), "{msg}");
    let (s, v) = json(&app, "POST", "/api/v1/training/resume", Some(&auth)).await;
    assert_eq!(
        (s.as_u16(), v["training_state"].as_str()),
        (200, Some("running"))
    );
    expect_error(
        &app,
        "POST",
        "/api/v1/training/start",
        Some(&auth),
        409,
        "conflict",
    )
    .await;
    let (s, v) = json(&app, "POST", "/api/v1/training/stop", Some(&auth)).await;
    assert_eq!(
        (s.as_u16(), v["training_state"].as_str()),
        (200, Some("finished"))
    );
    expect_error(
        &app,
        "POST",
        "/api/v1/training/stop",
        Some(&auth),
        409,
        "conflict",
    )
    .await;
    assert_eq!(*fake.state.lock().unwrap(), TrainingState::Finished);

    let idle = Fake::new();
    *idle.state.lock().unwrap() = TrainingState::Idle;
    let app = common::app(idle, Some(KEY), false);
    let (s, v) = json(&app, "POST", "/api/v1/training/start", Some(&auth)).await;
    assert_eq!(
        (s.as_u16(), v["training_state"].as_str()),
        (200, Some("running"))
    );
}

#[tokio::test]
async fn mutating_routes_require_the_admin_key() {
    let fake = Fake::new();
    let app = app(fake.clone(), Some(KEY), false);
    for cmd in ["start", "pause", "resume", "stop"] {
        let uri = format!("/api/v1/training/{cmd}");
        let (s, h, _) = send(&app, "POST", &uri, None).await;
        assert_eq!(s, 401);
        assert!(
            h["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        expect_error(&app, "POST", &uri, None, 401, "unauthorized").await;
        expect_error(
            &app,
            "POST",
            &uri,
            Some("Basic dXNlcjpwdw=="),
            401,
            "unauthorized",
        )
        .await;
        expect_error(&app, "POST", &uri, Some(&bearer("wrong")), 403, "forbidden").await;
        expect_error(
            &app,
            "POST",
            &uri,
            Some(&bearer("test-admin-ke")),
            403,
            "forbidden",
        )
        .await;
        expect_error(
            &app,
            "POST",
            &uri,
            Some(&bearer("test-admin-key2")),
            403,
            "forbidden",
        )
        .await;
    }
    // Nothing changed.
    assert_eq!(*fake.state.lock().unwrap(), TrainingState::Running);
}

#[tokio::test]
async fn no_configured_key_disables_mutations() {
    for key in [None, Some(""), Some("   ")] {
        let fake = Fake::new();
        let app = app(fake.clone(), key, false);
        for auth in [None, Some(bearer("")), Some(bearer("anything"))] {
            let msg = expect_error(
                &app,
                "POST",
                "/api/v1/training/stop",
                auth.as_deref(),
                403,
                "forbidden",
            )
            .await;
            assert!(msg.contains("FL_ADMIN_API_KEY") && msg.contains("security.admin_api_key"));
        }
        assert_eq!(*fake.state.lock().unwrap(), TrainingState::Running);
        // Reads stay open without read_requires_key.
        let (s, _) = json(&app, "GET", "/api/v1/run", None).await;
        assert_eq!(s, 200);
    }
}

#[tokio::test]
async fn reads_can_require_the_key() {
    let app = app(Fake::new(), Some(KEY), true);
    let auth = bearer(KEY);
    for uri in [
        "/api/v1/run",
        "/api/v1/rounds",
        "/api/v1/rounds/1",
        "/api/v1/clients",
        "/api/v1/clients/lab-d",
        "/api/v1/privacy",
        "/api/v1/models",
        "/api/v1/models/5",
    ] {
        expect_error(&app, "GET", uri, None, 401, "unauthorized").await;
        expect_error(&app, "GET", uri, Some(&bearer("nope")), 403, "forbidden").await;
        let (s, _, _) = send(&app, "GET", uri, Some(&auth)).await;
        assert_eq!(s, 200, "{uri}");
    }
    // Auth is checked before the path parameter.
    expect_error(&app, "GET", "/api/v1/rounds/abc", None, 401, "unauthorized").await;
    // Probes, metrics, OpenAPI and the page itself stay open for probes and scrapers.
    for uri in [
        "/api/v1/health",
        "/api/v1/ready",
        "/api/v1/openapi.json",
        "/metrics",
        "/",
    ] {
        let (s, _, _) = send(&app, "GET", uri, None).await;
        assert_eq!(s, 200, "{uri}");
    }
}

#[tokio::test]
async fn dashboard_page_is_self_contained_with_csp() {
    let app = app(Fake::new(), None, false);
    let (s, h, body) = send(&app, "GET", "/", None).await;
    assert_eq!(s, 200);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'sha256-") && csp.contains("default-src 'none'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("id=\"chart-accuracy\"") && html.contains("api/v1/"));
}
