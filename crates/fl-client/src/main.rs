//! `fl-client`: one federation client, or a swarm of them for load tests.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use fl_client::{Client, ClientConfig, Worker};

/// Federated-learning client.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// YAML configuration (see config/client.yaml).
    #[arg(long, default_value = "config/client.yaml")]
    config: PathBuf,
    /// This client's id (its numeric suffix picks the data shard unless data.index is set).
    #[arg(long, required_unless_present = "swarm")]
    client_id: Option<String>,
    /// Coordinator URL (overrides `coordinator`).
    #[arg(long, env = "FL_COORDINATOR")]
    coordinator: Option<String>,
    /// Data directory (overrides data.data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Number of data shards (overrides data.num_partitions).
    #[arg(long)]
    num_partitions: Option<usize>,
    /// Keep at most this many local examples (overrides data.max_examples).
    #[arg(long)]
    max_examples: Option<usize>,
    /// Run N clients (swarm-0001 ... swarm-N) in this process on one runtime.
    #[arg(long, value_name = "N")]
    swarm: Option<usize>,
    /// LOAD TESTS ONLY (with --swarm): send small random deltas instead of training.
    #[arg(long, requires = "swarm")]
    swarm_fake_train: bool,
    /// With --swarm-fake-train: simulated training time per task, milliseconds.
    #[arg(long, default_value_t = 0, requires = "swarm_fake_train")]
    swarm_fake_delay_ms: u64,
    /// RESEARCH AND TESTS ONLY: poison this client's updates (`scale:<f>`, `sign-flip`,
    /// `noise:<std>`), to test robust aggregation over the network.
    #[arg(long, value_name = "KIND")]
    attack: Option<String>,
    /// Enrollment token (overrides auth_token; prefer the environment variable).
    #[arg(long, env = "FL_CLIENT_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,
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

fn load(cli: &Cli) -> anyhow::Result<ClientConfig> {
    let mut cfg = ClientConfig::load(&cli.config)?;
    if let Some(c) = &cli.coordinator {
        cfg.coordinator = c.clone();
    }
    if let Some(d) = &cli.data_dir {
        cfg.data.data_dir = Some(d.clone());
    }
    if let Some(n) = cli.num_partitions {
        cfg.data.num_partitions = n;
    }
    if let Some(n) = cli.max_examples {
        cfg.data.max_examples = n;
    }
    if let Some(a) = &cli.attack {
        cfg.attack = Some(a.clone());
    }
    if let Some(t) = cli.auth_token.as_ref().filter(|t| !t.is_empty()) {
        cfg.auth_token = Some(t.clone());
    }
    if let Some(n) = cli.swarm {
        anyhow::ensure!(
            (1..=100_000).contains(&n),
            "--swarm must be 1..100000, got {n}"
        );
        if !cli.swarm_fake_train {
            cfg.data.num_partitions = cfg.data.num_partitions.max(n);
        }
    }
    cfg.validate()?;
    if let Some(id) = &cli.client_id {
        cfg.shard_index(id)?;
    }
    Ok(cfg)
}

async fn run(cli: Cli, cfg: ClientConfig) -> anyhow::Result<()> {
    let Some(n) = cli.swarm else {
        let id = cli.client_id.context("--client-id is required")?;
        let client = Client::from_config(cfg, &id).await?;
        let s = client.run().await?;
        eprintln!(
            "fl-client {id}: {} update(s) accepted, {} refused; {}",
            s.accepted, s.rejected, s.finished
        );
        return Ok(());
    };
    let spec = fl_ml::ModelSpec::parse(&cfg.model, &cfg.activation)?;
    let mut handles = Vec::with_capacity(n);
    for i in 1..=n {
        let id = format!("swarm-{i:04}");
        let cfg = cfg.clone();
        let fake = cli.swarm_fake_train;
        let delay = cli.swarm_fake_delay_ms;
        handles.push(tokio::spawn(async move {
            let client = if fake {
                Client::new(
                    cfg,
                    id.clone(),
                    Worker::fake(spec, 100, std::time::Duration::from_millis(delay)),
                )
            } else {
                Client::from_config(cfg, &id).await?
            };
            client.run().await
        }));
    }
    let (mut ok, mut failed) = (0usize, 0usize);
    for h in handles {
        match h.await {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => {
                failed += 1;
                eprintln!("fl-client swarm: {e}");
            }
            Err(e) => {
                failed += 1;
                eprintln!("fl-client swarm: task failed: {e}");
            }
        }
    }
    eprintln!("fl-client swarm: {ok} finished, {failed} failed");
    anyhow::ensure!(failed == 0, "{failed} swarm client(s) failed");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_json);
    let cfg = match load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fl-client: {e:#}");
            return ExitCode::from(2);
        }
    };
    if cfg.threads > 0 {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.threads)
            .build_global();
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fl-client: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli, cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fl-client: {e:#}");
            ExitCode::FAILURE
        }
    }
}
