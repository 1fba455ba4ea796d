//! The coordinator's HTTP side against a live run: a real coordinator (in process, DP-SGD
//! accounting and server-side evaluation on) with fake-training clients completes rounds, is
//! paused through the REST API, and then
//!
//! - its `GET /metrics` must export every metric of `tests/deploy/metrics_contract.txt`
//!   (with its type and labels) and every metric that a PromQL expression of
//!   `monitoring/` selects (alert rules and the Grafana dashboard), and
//! - the dashboard at `/`, loaded in headless Chromium, must chart exactly the rounds,
//!   clients and ε spends the REST API reports. Skips (with a message) only when Chromium is
//!   absent and FL_REQUIRE_CHROMIUM is unset, like fl-api's dashboard test.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fl_coordinator::Coordinator;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "live-test-admin-key";
const BUDGET: f64 = 10.0;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---- HTTP -----------------------------------------------------------------------------

/// One HTTP/1.0 request (no chunked answers); returns status and body.
async fn http(addr: SocketAddr, method: &str, path: &str, key: Option<&str>) -> (u16, String) {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let auth = key
            .map(|k| format!("Authorization: Bearer {k}\r\n"))
            .unwrap_or_default();
        s.write_all(
            format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer within 20 s"))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let text = String::from_utf8(buf).expect("UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, body.to_owned())
}

async fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http(addr, "GET", path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

// ---- a paused live run -------------------------------------------------------------------

struct LiveRun {
    coord: Coordinator,
    http: SocketAddr,
    clients: Vec<tokio::task::JoinHandle<Result<fl_client::ClientSummary, fl_client::ClientError>>>,
    ids: Vec<String>,
    _dir: tempfile::TempDir,
}

/// Starts a coordinator with record-level DP (fixed σ, ε budget [`BUDGET`]) and evaluation
/// on 200 MNIST test images, two fake clients `<prefix>-client-00{1,2}`; once round 1 is
/// complete, pauses the run over REST and waits until it is paused (the open round, if any,
/// completes first).
async fn paused_run(prefix: &str) -> LiveRun {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::coordinator_config(dir.path(), &format!("{prefix}-live"));
    cfg.http.addr = "127.0.0.1:0".into();
    // Far more rounds than the test needs (it pauses after round 1 or 2), all within the
    // ε budget (10 rounds of 4 steps at q = 0.32, σ = 1.5: ε ≈ 8.5).
    cfg.rounds = 10;
    cfg.min_clients = 2;
    cfg.evaluation.dataset = "mnist".into();
    cfg.evaluation.data_dir = Some(common::data_dir());
    cfg.evaluation.max_examples = 200;
    cfg.privacy.enabled = true;
    cfg.privacy.epsilon = BUDGET;
    cfg.privacy.noise_multiplier = Some(1.5);
    cfg.security.admin_api_key = Some(KEY.into());
    let coord = Coordinator::start(cfg).await.unwrap();
    let addr = coord.http_addr.expect("HTTP listener");
    let ids: Vec<String> = (1..=2).map(|i| format!("{prefix}-client-{i:03}")).collect();
    let clients = ids
        .iter()
        .map(|id| common::spawn_fake(coord.grpc_addr, id, Duration::from_millis(300)))
        .collect();

    let t0 = Instant::now();
    let mut paused = false;
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "the run did not complete a round and pause within 90 s"
        );
        let run = get_json(addr, "/api/v1/run").await;
        if !paused && run["completed_rounds"].as_u64().unwrap_or(0) >= 1 {
            let (s, body) = http(addr, "POST", "/api/v1/training/pause", Some(KEY)).await;
            assert_eq!(s, 200, "pause: {body}");
            paused = true;
        }
        if paused && run["phase"] == "paused" {
            assert_eq!(run["training_state"], "paused", "{run}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    LiveRun {
        coord,
        http: addr,
        clients,
        ids,
        _dir: dir,
    }
}

impl LiveRun {
    /// Stops the run and lets the clients learn it.
    async fn stop(self) {
        let out = tokio::time::timeout(Duration::from_secs(30), self.coord.stop())
            .await
            .expect("coordinator stops within 30 s")
            .unwrap();
        assert_eq!(out.report.outcome, "stopped");
        for c in self.clients {
            let _ = tokio::time::timeout(Duration::from_secs(10), c).await;
        }
    }
}

// ---- metric contract, PromQL and exposition parsing ---------------------------------------

struct ContractMetric {
    name: String,
    kind: String,
    labels: BTreeSet<String>,
    optional: bool,
}

impl ContractMetric {
    fn sample_names(&self) -> Vec<String> {
        if self.kind == "histogram" {
            ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{}{s}", self.name))
                .collect()
        } else {
            vec![self.name.clone()]
        }
    }
}

fn contract() -> Vec<ContractMetric> {
    let text = std::fs::read_to_string(repo().join("tests/deploy/metrics_contract.txt")).unwrap();
    let out: Vec<ContractMetric> = text
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(f.len() == 3 || (f.len() == 4 && f[3] == "optional"), "{l}");
            ContractMetric {
                name: f[0].to_owned(),
                kind: f[1].to_owned(),
                labels: match f[2] {
                    "-" => BTreeSet::new(),
                    l => l.split(',').map(str::to_owned).collect(),
                },
                optional: f.len() == 4,
            }
        })
        .collect();
    assert!(out.len() >= 20, "contract parsed {} entries", out.len());
    out
}

/// Series that Prometheus itself writes for every target (never exported by the coordinator).
const PROMETHEUS_SYNTHETIC: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

const PROMQL_KEYWORDS: [&str; 15] = [
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
    "start",
    "end",
];
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}
fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Strings become `""`; `{...}` matchers and `[...]` ranges become a space.
fn strip_promql(expr: &str) -> String {
    let mut out = String::new();
    let mut it = expr.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '"' | '\'' | '`' => {
                while let Some(d) = it.next() {
                    if d == '\\' && c != '`' {
                        it.next();
                    } else if d == c {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                for d in it.by_ref() {
                    if d == close {
                        break;
                    }
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    out
}

fn promql_tokens(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        } else if c == '$' {
            // Grafana variable: $x or ${x}
            i += 1;
            if chars.get(i) == Some(&'{') {
                i += 1;
            }
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            if chars.get(i) == Some(&'}') {
                i += 1;
            }
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_.".contains(chars[i])) {
                i += 1;
            }
        } else if is_ident_start(c) {
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
        } else {
            i += 1;
        }
        toks.push(chars[start..i].iter().collect());
    }
    toks
}

/// Metric names a PromQL expression selects: the same rules as
/// `tests/deploy/metrics_contract.py::promql_metric_names` (function names, keywords, label
/// matchers, ranges, grouping label lists, numbers, durations and Grafana variables are not
/// metric names).
fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    let toks = promql_tokens(&strip_promql(expr));
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        let lower = t.to_ascii_lowercase();
        if GROUPING.contains(&lower.as_str()) && toks.get(i + 1).is_some_and(|n| n == "(") {
            // by (a, b): skip the label list
            i += 2;
            while i < toks.len() && toks[i] != ")" {
                i += 1;
            }
            i += 1;
            continue;
        }
        i += 1;
        if !t.starts_with(is_ident_start) || PROMQL_KEYWORDS.contains(&lower.as_str()) {
            continue;
        }
        let next = toks
            .get(i)
            .map(|n| n.to_ascii_lowercase())
            .unwrap_or_default();
        if matches!(next.as_str(), "(" | "by" | "without") {
            continue; // a function call or an aggregation
        }
        names.insert(t.clone());
    }
    names
}

/// Metric names of a Grafana variable query (`label_values(expr, label)`, `query_result(expr)`).
fn grafana_query_metric_names(query: &str) -> BTreeSet<String> {
    let q = query.trim();
    if let Some(inner) = q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return match inner.rsplit_once(',') {
            Some((expr, _label)) => promql_metric_names(expr),
            None => BTreeSet::new(),
        };
    }
    if q.starts_with("metrics(") || q.starts_with("label_names(") {
        return BTreeSet::new();
    }
    match q
        .strip_prefix("query_result(")
        .and_then(|r| r.strip_suffix(')'))
    {
        Some(expr) => promql_metric_names(expr),
        None => promql_metric_names(q),
    }
}

/// (where, expression) of every PromQL expression in monitoring/: alert rules and the
/// dashboard's panel and variable queries.
fn monitoring_queries() -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    let rules: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo().join("monitoring/prometheus/alerts.yml")).unwrap(),
    )
    .unwrap();
    for g in rules["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            let expr = r["expr"].as_str().unwrap();
            let name = r["alert"].as_str().or(r["record"].as_str()).unwrap();
            out.push((format!("alert {name}"), promql_metric_names(expr)));
        }
    }
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("monitoring/grafana/dashboards/fl.json")).unwrap(),
    )
    .unwrap();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap();
            out.push((
                format!("panel {:?}", p["title"].as_str().unwrap_or("?")),
                promql_metric_names(expr),
            ));
        }
    }
    for v in dash["templating"]["list"].as_array().unwrap() {
        if v["type"] == "query" {
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap();
            out.push((
                format!("variable {}", v["name"]),
                grafana_query_metric_names(q),
            ));
        }
    }
    for (what, names) in &out {
        assert!(!names.is_empty(), "{what}: no metric name found");
    }
    out
}

/// One sample: its labels and value.
type Sample = (BTreeMap<String, String>, f64);

/// A parsed `/metrics` text: declared types, and the label-name sets and values of each
/// sample name.
#[derive(Default)]
struct Exposition {
    types: BTreeMap<String, String>,
    samples: BTreeMap<String, Vec<Sample>>,
}

impl Exposition {
    fn parse(text: &str) -> Self {
        let mut e = Self::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix('#') {
                let f: Vec<&str> = rest.split_whitespace().collect();
                if f.len() >= 3 && f[0] == "TYPE" {
                    e.types.insert(f[1].to_owned(), f[2].to_owned());
                }
                continue;
            }
            let end = line
                .find(|c: char| c == '{' || c.is_whitespace())
                .unwrap_or_else(|| panic!("not a sample: {line:?}"));
            let name = &line[..end];
            let mut labels = BTreeMap::new();
            let mut rest = &line[end..];
            if rest.starts_with('{') {
                let chars: Vec<char> = rest.chars().collect();
                let mut i = 1;
                loop {
                    while i < chars.len() && (chars[i] == ',' || chars[i] == ' ') {
                        i += 1;
                    }
                    assert!(i < chars.len(), "unterminated labels: {line:?}");
                    if chars[i] == '}' {
                        i += 1;
                        break;
                    }
                    let k0 = i;
                    while chars[i] != '=' {
                        i += 1;
                    }
                    let key: String = chars[k0..i].iter().collect();
                    assert_eq!(chars[i + 1], '"', "label value not quoted: {line:?}");
                    i += 2;
                    let mut val = String::new();
                    while chars[i] != '"' {
                        if chars[i] == '\\' {
                            i += 1;
                        }
                        val.push(chars[i]);
                        i += 1;
                    }
                    i += 1;
                    labels.insert(key.trim().to_owned(), val);
                }
                let consumed: usize = chars[..i].iter().map(|c| c.len_utf8()).sum();
                rest = &rest[consumed..];
            }
            let value = rest
                .split_whitespace()
                .next()
                .unwrap_or_else(|| panic!("no value: {line:?}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value: {line:?}")),
            };
            e.samples
                .entry(name.to_owned())
                .or_default()
                .push((labels, value));
        }
        e
    }

    /// The value of a sample with exactly these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples.get(name)?.iter().find_map(|(l, v)| {
            (l.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, x)| l.get(*k).map(String::as_str) == Some(*x)))
            .then_some(*v)
        })
    }
}

#[test]
fn promql_names_match_the_python_extractor_cases() {
    // The cases of tests/deploy/test_metrics_contract.py::test_promql_metric_names.
    let cases: [(&str, &[&str]); 7] = [
        ("fl_a", &["fl_a"]),
        (r#"rate(fl_a_total{job="x",l=~"a|b"}[5m])"#, &["fl_a_total"]),
        (
            "histogram_quantile(0.99, sum by (le) (rate(fl_h_bucket[$__rate_interval])))",
            &["fl_h_bucket"],
        ),
        (
            "sum(fl_a) by (instance) / on(instance) group_left(client_id) fl_b",
            &["fl_a", "fl_b"],
        ),
        (
            "fl_a > 1e9 and fl_b offset 5m unless fl_c @ end()",
            &["fl_a", "fl_b", "fl_c"],
        ),
        (
            r#"count(fl_a{x="sum(fake_metric)"}) or vector(0)"#,
            &["fl_a"],
        ),
        ("time() - fl_ts > 900", &["fl_ts"]),
    ];
    for (expr, want) in cases {
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(promql_metric_names(expr), want, "{expr}");
    }
    let one = |s: &str| BTreeSet::from([s.to_owned()]);
    assert_eq!(
        grafana_query_metric_names(r#"label_values(fl_a{x=~"$y"}, client_id)"#),
        one("fl_a")
    );
    assert!(grafana_query_metric_names("label_values(instance)").is_empty());
    assert_eq!(
        grafana_query_metric_names("query_result(max(fl_b))"),
        one("fl_b")
    );
}

/// The reasons registered at zero (`metrics_names::REJECTION_REASONS`) are all the reasons
/// the sources can count: fl-core's `UpdateRejected::reason` and the literals passed to
/// `count_rejection` / `reject` in the coordinator.
#[test]
fn rejection_reasons_cover_the_sources() {
    let known: BTreeSet<&str> = fl_coordinator::metrics_names::REJECTION_REASONS
        .iter()
        .copied()
        .collect();
    let mut found = BTreeSet::new();
    let core = std::fs::read_to_string(repo().join("crates/fl-core/src/error.rs")).unwrap();
    let body = &core[core
        .find("pub fn reason(&self)")
        .expect("UpdateRejected::reason")..];
    let body = &body[..body.find("\n    }\n").unwrap()];
    for part in body.split("=> \"").skip(1) {
        found.insert(part.split('"').next().unwrap().to_owned());
    }
    assert!(found.len() >= 10, "{found:?}");
    for entry in std::fs::read_dir(repo().join("crates/fl-coordinator/src")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for call in ["count_rejection(", "reject("] {
            for part in text.split(call).skip(1) {
                if let Some(lit) = part.trim_start().strip_prefix('"') {
                    found.insert(lit.split('"').next().unwrap().to_owned());
                }
            }
        }
    }
    let missing: Vec<&String> = found
        .iter()
        .filter(|r| !known.contains(r.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "rejection reasons not in metrics_names::REJECTION_REASONS: {missing:?}"
    );
}

/// Task of issue #7: the live exposition satisfies the contract and every monitoring query.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_metrics_export_the_contract_and_every_monitored_metric() {
    let run = paused_run("metrics").await;
    let (status, text) = http(run.http, "GET", "/metrics", None).await;
    assert_eq!(status, 200, "{text}");
    let exp = Exposition::parse(&text);
    let contract = contract();

    let mut problems = Vec::new();
    for m in &contract {
        let present: Vec<String> = m
            .sample_names()
            .into_iter()
            .filter(|s| exp.samples.contains_key(s))
            .collect();
        if present.len() < m.sample_names().len() {
            // Process metrics are optional only where the platform has none (not Linux).
            if !m.optional || cfg!(target_os = "linux") {
                problems.push(format!("not exported: {} (have {present:?})", m.name));
            }
            continue;
        }
        match exp.types.get(&m.name) {
            Some(t) if *t == m.kind => {}
            t => problems.push(format!("{}: # TYPE {t:?}, contract {}", m.name, m.kind)),
        }
        for s in &present {
            let mut want = m.labels.clone();
            if s.ends_with("_bucket") {
                want.insert("le".into());
            }
            for (labels, _) in &exp.samples[s] {
                let got: BTreeSet<String> = labels.keys().cloned().collect();
                if got != want {
                    problems.push(format!("{s}: labels {got:?}, contract {want:?}"));
                }
            }
        }
    }
    let resolves = |name: &str| {
        contract
            .iter()
            .any(|m| m.sample_names().iter().any(|s| s == name))
    };
    for name in exp.samples.keys() {
        if name.starts_with("fl_") && !resolves(name) {
            problems.push(format!("exported but not in the contract: {name}"));
        }
    }
    for (what, names) in monitoring_queries() {
        for n in names {
            if PROMETHEUS_SYNTHETIC.contains(&n.as_str()) {
                continue;
            }
            if !exp.samples.contains_key(&n) {
                problems.push(format!(
                    "{what} selects {n}, which /metrics does not export"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}\n\n{text}", problems.join("\n"));

    // The values are the run's, not placeholders.
    let rounds = get_json(run.http, "/api/v1/rounds").await;
    let completed = rounds.as_array().unwrap().len() as f64;
    assert_eq!(exp.value("fl_training_state", &[]), Some(2.0), "paused");
    assert!(exp.value("fl_rounds_completed_total", &[]).unwrap() >= completed);
    assert!(exp.value("fl_updates_accepted_total", &[]).unwrap() >= 2.0 * completed);
    assert!(exp.value("fl_round_duration_seconds_count", &[]).unwrap() >= completed);
    assert!(exp.value("fl_bytes_received_total", &[]).unwrap() >= 2.0 * 26_010.0 * 4.0);
    assert!(exp.value("fl_bytes_sent_total", &[]).unwrap() >= 2.0 * 26_010.0 * 4.0);
    let acc = exp.value("fl_global_accuracy", &[]).unwrap();
    assert!((0.0..=1.0).contains(&acc), "{acc}");
    assert!(
        exp.value("fl_updates_rejected_total", &[("reason", "too_late")])
            .is_some(),
        "known rejection reasons are exported at zero"
    );
    let privacy = get_json(run.http, "/api/v1/privacy").await;
    for id in &run.ids {
        let l = [("client_id", id.as_str())];
        let spent = exp.value("fl_client_epsilon_spent", &l).unwrap();
        let line = privacy["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} not in /privacy: {privacy}"));
        assert!(spent > 0.0);
        assert!((spent - line["epsilon_spent"].as_f64().unwrap()).abs() < 1e-9);
        assert_eq!(exp.value("fl_client_epsilon_budget", &l), Some(BUDGET));
        let frac = exp.value("fl_client_budget_fraction", &l).unwrap();
        assert!((frac - spent / BUDGET).abs() < 1e-9, "{frac} vs {spent}");
        let rem = exp.value("fl_privacy_budget_remaining", &l).unwrap();
        assert!((rem - (BUDGET - spent)).abs() < 1e-9, "{rem} vs {spent}");
    }
    run.stop().await;
}

// ---- dashboard in headless Chromium -------------------------------------------------------

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FL_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"]
                .into_iter()
                .map(move |n| dir.join(n))
        })
        .find(|p| p.is_file())
}

async fn chromium_dump_dom(bin: &Path, profile: &Path, url: &str) -> String {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--virtual-time-budget=5000",
        "--dump-dom",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(url)
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium did not finish within 120 s")
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The opening tag of the element with this id.
fn tag<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in DOM"));
    let start = dom[..at].rfind('<').unwrap();
    let end = at + dom[at..].find('>').unwrap();
    &dom[start..=end]
}

/// Text content of a simple element (no children) with this id.
fn text<'a>(dom: &'a str, id: &str) -> &'a str {
    let t = tag(dom, id);
    let start = dom.find(t).unwrap() + t.len();
    let end = start + dom[start..].find('<').unwrap();
    &dom[start..end]
}

/// The SVG of a chart (from its opening tag to `</svg>`).
fn chart<'a>(dom: &'a str, id: &str) -> &'a str {
    let t = tag(dom, id);
    let start = dom.find(t).unwrap();
    let end = start + dom[start..].find("</svg>").unwrap();
    &dom[start..end]
}

/// Values of attribute `attr` on the elements of `class` inside `html`, in order.
fn attr_values(html: &str, class: &str, attr: &str) -> Vec<String> {
    html.split(&format!("class=\"{class}\""))
        .skip(1)
        .map(|rest| {
            // Attributes come after the class in document order for these elements; look
            // in the element's opening tag (up to '>').
            let tag_end = rest.find('>').unwrap();
            let t = &rest[..tag_end];
            let k = t
                .find(&format!(" {attr}=\""))
                .unwrap_or_else(|| panic!("no {attr} in {t}"));
            let v = &t[k + attr.len() + 3..];
            v[..v.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// Task of issue #5: the dashboard, served by a live coordinator, charts the run's data.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_charts_a_live_run_in_headless_chromium() {
    let Some(bin) = find_chromium() else {
        assert!(
            std::env::var_os("FL_REQUIRE_CHROMIUM").is_none(),
            "FL_REQUIRE_CHROMIUM is set but no chromium was found in PATH (or FL_CHROMIUM)"
        );
        eprintln!(
            "SKIPPED: chromium not found (apt-get install -y chromium; set FL_REQUIRE_CHROMIUM to make this fatal)"
        );
        return;
    };
    let run = paused_run("dash").await;
    let rounds = get_json(run.http, "/api/v1/rounds").await;
    let rounds = rounds.as_array().unwrap().clone();
    let privacy = get_json(run.http, "/api/v1/privacy").await;
    let n = rounds.len();
    assert!(n >= 1);
    assert!(
        rounds
            .iter()
            .all(|r| r["accuracy"].is_f64() && r["loss"].is_f64()),
        "every round evaluated: {rounds:?}"
    );

    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{}/", run.http);
    let dom = chromium_dump_dom(&bin, profile.path(), &url).await;

    // Header and KPIs from /run, /rounds and /privacy.
    assert_eq!(text(&dom, "phase"), "paused", "{dom}");
    assert_eq!(text(&dom, "run-id"), "run dash-live");
    assert!(
        text(&dom, "round-progress").ends_with(&format!("/ 10 · {n} completed")),
        "{}",
        text(&dom, "round-progress")
    );
    assert_eq!(text(&dom, "kpi-clients"), "2 / 2");
    let last = &rounds[n - 1];
    assert_eq!(
        text(&dom, "kpi-accuracy"),
        format!("{:.2}%", last["accuracy"].as_f64().unwrap() * 100.0)
    );
    assert_eq!(
        text(&dom, "kpi-epsilon"),
        format!(
            "{:.2} / {BUDGET:.2}",
            privacy["epsilon_max"].as_f64().unwrap()
        )
    );
    // Paused: only resume and stop are offered.
    assert!(tag(&dom, "btn-pause").contains("disabled"));
    assert!(!tag(&dom, "btn-resume").contains("disabled"));
    assert!(!tag(&dom, "btn-stop").contains("disabled"));

    // Accuracy and loss charts: one marker per completed round, at the REST values.
    for (id, field) in [("chart-accuracy", "accuracy"), ("chart-loss", "loss")] {
        let svg = chart(&dom, id);
        assert!(
            tag(&dom, id).contains(&format!("data-points=\"{n}\"")),
            "{svg}"
        );
        let got_rounds = attr_values(svg, "point", "data-round");
        let want_rounds: Vec<String> = rounds.iter().map(|r| r["round"].to_string()).collect();
        assert_eq!(got_rounds, want_rounds, "{id}");
        let values = attr_values(svg, "point", "data-value");
        for (v, r) in values.iter().zip(&rounds) {
            let v: f64 = v.parse().unwrap();
            assert!(
                (v - r[field].as_f64().unwrap()).abs() < 1e-9,
                "{id}: {v} vs {r}"
            );
        }
    }
    // Round durations: one bar per round.
    let durations = chart(&dom, "chart-duration");
    assert!(tag(&dom, "chart-duration").contains(&format!("data-points=\"{n}\"")));
    assert_eq!(attr_values(durations, "bar", "data-label").len(), n);
    // ε per client: one bar per client at its ledger spend, with the budget and 80 % lines.
    let eps = chart(&dom, "chart-epsilon");
    assert!(
        tag(&dom, "chart-epsilon").contains("data-points=\"2\""),
        "{eps}"
    );
    let labels = attr_values(eps, "bar", "data-label");
    assert_eq!(labels, run.ids);
    for (v, c) in attr_values(eps, "bar", "data-value")
        .iter()
        .zip(privacy["clients"].as_array().unwrap())
    {
        let v: f64 = v.parse().unwrap();
        assert!(v > 0.0 && (v - c["epsilon_spent"].as_f64().unwrap()).abs() < 1e-9);
    }
    assert!(eps.contains("class=\"budget-line\"") && eps.contains("class=\"warn-line\""));
    // Client table: both clients, online, with their rounds.
    for id in &run.ids {
        let at = dom
            .find(&format!("data-client-id=\"{id}\""))
            .unwrap_or_else(|| panic!("client {id} not in the table"));
        let row = &dom[at..at + dom[at..].find("</tr>").unwrap()];
        assert!(row.contains("online"), "{row}");
    }
    run.stop().await;
}
