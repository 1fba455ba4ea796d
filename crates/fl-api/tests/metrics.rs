//! `GET /metrics` renders what the `metrics` macros record, for every name of the contract
//! in tests/deploy/metrics_contract.txt.

mod common;

use common::*;
use fl_api::metrics::{AGGREGATION_BUCKETS, ROUND_DURATION_BUCKETS, names};

struct Entry {
    name: String,
    kind: String,
    labels: Vec<String>,
}

fn contract() -> Vec<Entry> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/deploy/metrics_contract.txt"
    );
    let text = std::fs::read_to_string(path).expect("metrics contract");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !l.ends_with("optional"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Entry {
                name: f[0].to_owned(),
                kind: f[1].to_owned(),
                labels: match f[2] {
                    "-" => vec![],
                    l => l.split(',').map(str::to_owned).collect(),
                },
            }
        })
        .collect()
}

fn record(e: &Entry, value: f64) {
    let labels: Vec<(String, String)> = e
        .labels
        .iter()
        .map(|l| (l.clone(), format!("{l}-x")))
        .collect();
    match e.kind.as_str() {
        "counter" => metrics::counter!(e.name.clone(), &labels).increment(value as u64),
        "gauge" => metrics::gauge!(e.name.clone(), &labels).set(value),
        "histogram" => metrics::histogram!(e.name.clone(), &labels).record(value),
        other => panic!("unknown metric type {other}"),
    }
}

#[tokio::test]
async fn every_contract_metric_renders_with_its_type_and_labels() {
    // Recording before a recorder exists goes to the no-op recorder and is lost, which is
    // what the coordinator avoids by installing it first thing; so must the test.
    fl_api::install_metrics_recorder().unwrap();
    let entries = contract();
    assert!(
        entries.len() >= 20,
        "contract parsed {} entries",
        entries.len()
    );
    for e in &entries {
        record(e, 3.0);
        if e.kind == "histogram" {
            record(e, 42.0);
        }
    }
    let app = app(Fake::new(), None, false);
    let (s, h, body) = send(&app, "GET", "/metrics", None).await;
    assert_eq!(s, 200);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(body).unwrap();
    for e in &entries {
        assert!(
            text.contains(&format!("# TYPE {} {}\n", e.name, e.kind)),
            "{}: no TYPE {} line in\n{text}",
            e.name,
            e.kind
        );
        let series = if e.kind == "histogram" {
            format!("{}_bucket", e.name)
        } else {
            e.name.clone()
        };
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{series}{{")) || l.starts_with(&format!("{series} ")))
            .unwrap_or_else(|| panic!("no sample for {series}"));
        for l in &e.labels {
            assert!(line.contains(&format!("{l}=\"{l}-x\"")), "{line}");
        }
        if e.kind == "counter" {
            assert!(line.ends_with(" 3"), "{line}");
        }
    }
}

#[tokio::test]
async fn histograms_use_the_configured_buckets() {
    fl_api::install_metrics_recorder().unwrap();
    metrics::histogram!(names::ROUND_DURATION_SECONDS).record(7.0);
    metrics::histogram!(names::AGGREGATION_SECONDS).record(0.02);
    let app = app(Fake::new(), None, false);
    let (_, _, body) = send(&app, "GET", "/metrics", None).await;
    let text = String::from_utf8(body).unwrap();
    for (name, buckets) in [
        (names::ROUND_DURATION_SECONDS, ROUND_DURATION_BUCKETS),
        (names::AGGREGATION_SECONDS, AGGREGATION_BUCKETS),
    ] {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{name}_bucket{{le=")))
            .collect();
        assert_eq!(lines.len(), buckets.len() + 1, "{name}: {lines:?}");
        assert!(lines.last().unwrap().contains("le=\"+Inf\""));
        assert!(text.contains(&format!("{name}_sum")) && text.contains(&format!("{name}_count")));
        assert!(
            !text.contains(&format!("{name}{{quantile=")),
            "{name} rendered as a summary"
        );
    }
}

#[test]
fn recorder_install_is_idempotent() {
    let a = fl_api::install_metrics_recorder().unwrap();
    let b = fl_api::install_metrics_recorder().unwrap();
    metrics::gauge!("fl_test_idempotent").set(5.0);
    assert!(a.render().contains("fl_test_idempotent 5"));
    assert!(b.render().contains("fl_test_idempotent 5"));
}
