//! `fl-coordinator`: serves a federated training run over gRPC.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use fl_coordinator::{Coordinator, CoordinatorConfig};

/// Federated-learning coordinator (gRPC fl.v1 + HTTP metrics).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// YAML configuration (see config/coordinator.yaml).
    #[arg(long, default_value = "config/coordinator.yaml")]
    config: PathBuf,
    /// gRPC listen address (overrides grpc.addr).
    #[arg(long)]
    grpc_addr: Option<String>,
    /// HTTP listen address (overrides http.addr; "" disables HTTP).
    #[arg(long)]
    http_addr: Option<String>,
    /// Rounds (overrides rounds).
    #[arg(long)]
    rounds: Option<u64>,
    /// Report path (overrides output.report).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Run id (overrides run_id; the same id resumes a run).
    #[arg(long)]
    run_id: Option<String>,
    /// Database URL (overrides database.url).
    #[arg(long, env = "FL_DATABASE_URL")]
    database_url: Option<String>,
    /// Redis URL for sessions (overrides redis.url).
    #[arg(long, env = "FL_REDIS_URL")]
    redis_url: Option<String>,
    /// Admin API key (overrides security.admin_api_key).
    #[arg(long, env = "FL_ADMIN_API_KEY", hide_env_values = true)]
    admin_api_key: Option<String>,
    /// Extra `key=value` overrides of top-level scalar keys (e.g. --set codec=int8).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// JSON logs.
    #[arg(long)]
    log_json: bool,
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

/// Applies `--set key=value` to the YAML text by appending/replacing a top-level key; the
/// result goes through the same strict parser, so unknown keys still fail.
fn apply_sets(yaml: &str, sets: &[String]) -> anyhow::Result<String> {
    let mut lines: Vec<String> = yaml.lines().map(str::to_string).collect();
    for s in sets {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("--set expects KEY=VALUE, got {s:?}"))?;
        anyhow::ensure!(
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "--set key must be a top-level key, got {k:?}"
        );
        lines.retain(|l| !l.starts_with(&format!("{k}:")));
        lines.push(format!("{k}: {v}"));
    }
    Ok(lines.join("\n"))
}

fn load(cli: &Cli) -> anyhow::Result<CoordinatorConfig> {
    let text = std::fs::read_to_string(&cli.config)
        .with_context(|| format!("cannot read config {}", cli.config.display()))?;
    let text = apply_sets(&text, &cli.set)?;
    let mut cfg = CoordinatorConfig::from_yaml(&text)
        .with_context(|| format!("invalid config {}", cli.config.display()))?;
    if let Some(a) = &cli.grpc_addr {
        cfg.grpc.addr = a.clone();
    }
    if let Some(a) = &cli.http_addr {
        cfg.http.addr = a.clone();
    }
    if let Some(r) = cli.rounds {
        cfg.rounds = r;
    }
    if let Some(r) = &cli.report {
        cfg.output.report = Some(r.clone());
    }
    if let Some(r) = &cli.run_id {
        cfg.run_id = r.clone();
    }
    if let Some(u) = cli.database_url.as_ref().filter(|u| !u.is_empty()) {
        cfg.database.url = Some(u.clone());
    }
    if let Some(u) = cli.redis_url.as_ref().filter(|u| !u.is_empty()) {
        cfg.redis.url = Some(u.clone());
    }
    if let Some(k) = cli.admin_api_key.as_ref().filter(|k| !k.is_empty()) {
        cfg.security.admin_api_key = Some(k.clone());
    }
    cfg.validate()?;
    Ok(cfg)
}

async fn run(cfg: CoordinatorConfig) -> anyhow::Result<bool> {
    fl_api::install_metrics_recorder().map_err(|e| anyhow::anyhow!("metrics recorder: {e}"))?;
    let coord = Coordinator::start(cfg).await?;
    let outcome = coord.wait().await?;
    Ok(outcome.report.outcome == "completed")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_json);
    let cfg = match load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fl-coordinator: {e:#}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fl-coordinator: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cfg)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("fl-coordinator: the run did not complete (see the report)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("fl-coordinator: {e:#}");
            ExitCode::FAILURE
        }
    }
}
