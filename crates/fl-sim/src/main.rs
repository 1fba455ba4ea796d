//! `fl-sim`: run a federated training simulation on MNIST or Fashion-MNIST.
//!
//! ```text
//! fl-sim --config config/sim.yaml [--clients 10 --rounds 5 …] [--report out.json]
//! ```

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fl_sim::{Observer, RoundRow, SimConfig, SimFlags};
use indicatif::{ProgressBar, ProgressStyle};

/// Federated learning simulation: every client trains in this process through
/// the same round engine and trainer as the real coordinator and clients.
#[derive(Parser, Debug)]
#[command(name = "fl-sim", version, about)]
struct Cli {
    /// YAML configuration file; every key can also be given as a flag.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    flags: SimFlags,
}

struct Console {
    bar: Option<ProgressBar>,
    header: bool,
}

impl Observer for Console {
    fn round_started(&mut self, round: u64, clients: usize) {
        if !self.header {
            println!(
                "{:>5}  {:>8}  {:>8}  {:>8}  {:>12}  {:>12}  {:>7}  {:>7}",
                "round",
                "accuracy",
                "loss",
                "seconds",
                "bytes_up",
                "bytes_down",
                "clients",
                "epsilon"
            );
            self.header = true;
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(clients as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "round {msg} [{bar:30}] {pos}/{len} clients {elapsed}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(round.to_string());
            self.bar = Some(bar);
        }
    }
    fn client_trained(&mut self, _round: u64, done: usize, _of: usize) {
        if let Some(b) = &self.bar {
            b.set_position(done as u64);
        }
    }
    fn round_completed(&mut self, row: &RoundRow) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        let r = &row.record;
        let eps = r.epsilon.map_or("-".to_string(), |e| format!("{e:.3}"));
        println!(
            "{:>5}  {:>8.4}  {:>8.4}  {:>8.2}  {:>12}  {:>12}  {:>7}  {:>7}",
            r.round,
            r.accuracy.unwrap_or(f64::NAN),
            r.loss.unwrap_or(f64::NAN),
            r.seconds,
            r.bytes_up,
            r.bytes_down,
            r.clients,
            eps
        );
    }
    fn warn(&mut self, message: &str) {
        if let Some(b) = &self.bar {
            b.suspend(|| eprintln!("warning: {message}"));
        } else {
            eprintln!("warning: {message}");
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut cfg = match &cli.config {
        Some(path) => match SimConfig::from_file(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => SimConfig::default(),
    };
    cfg.apply(&cli.flags);
    if let Err(e) = cfg.validate() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let mut console = Console {
        bar: None,
        header: false,
    };
    match fl_sim::run(&cfg, &mut console) {
        Ok(report) => {
            println!(
                "final accuracy {:.4} after {} rounds in {:.1} s ({}){}",
                report.final_accuracy.unwrap_or(f64::NAN),
                report.rounds.len(),
                report.total_seconds,
                report.outcome,
                report
                    .user_level_epsilon
                    .map_or(String::new(), |e| format!(", user-level ε = {e:.3}"))
            );
            if let Some(p) = &cfg.report {
                println!("report written to {}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
