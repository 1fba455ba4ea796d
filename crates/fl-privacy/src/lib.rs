//! # fl-privacy: a command-line privacy calculator
//!
//! A thin layer over [`fl_core::privacy`]: `fl-privacy epsilon` reports the ε
//! spent by `steps` Poisson-subsampled Gaussian steps, `fl-privacy noise` finds
//! the noise multiplier that keeps ε at or below a target. The last line of the
//! output is the answer; with `--quiet` it is the only line and holds only the
//! number. Invalid arguments give a message on stderr and a non-zero exit.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use fl_core::privacy::{
    AccountantKind, Conversion, PrivacyEvent, epsilon_for, noise_multiplier_for,
};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "fl-privacy",
    version,
    about = "Differential-privacy accounting for DP-SGD and DP-FedAvg"
)]
pub struct Cli {
    /// What to compute.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// ε spent by `steps` steps with noise multiplier σ and sampling rate q.
    #[command(allow_negative_numbers = true)]
    Epsilon {
        /// σ: noise standard deviation / clipping norm (> 0).
        #[arg(long)]
        noise_multiplier: f64,
        /// Shared options.
        #[command(flatten)]
        common: Common,
    },
    /// Smallest σ (within 0.01 in ε) whose ε is at most the target.
    #[command(allow_negative_numbers = true)]
    Noise {
        /// Target ε (> 0).
        #[arg(long)]
        target_epsilon: f64,
        /// Shared options.
        #[command(flatten)]
        common: Common,
    },
}

/// Options shared by both subcommands.
#[derive(Debug, Args)]
pub struct Common {
    /// q: Poisson sampling rate, batch size / data-set size (or clients per round / clients), in (0, 1].
    #[arg(long)]
    pub sample_rate: f64,
    /// Number of steps (or rounds), ≥ 1.
    #[arg(long)]
    pub steps: u64,
    /// δ, in (0, 1).
    #[arg(long)]
    pub delta: f64,
    /// Accountant: rdp (Rényi DP) or prv (privacy-loss random variables; tighter).
    #[arg(long, default_value = "rdp")]
    pub accountant: AccountantKind,
    /// RDP→(ε, δ) conversion: balle (Opacus ≥ 1.0) or classic (older papers, TF Privacy tutorial). Ignored by prv.
    #[arg(long, default_value = "balle")]
    pub conversion: Conversion,
    /// Print only the number.
    #[arg(long)]
    pub quiet: bool,
}

impl Common {
    fn describe(&self) -> String {
        match self.accountant {
            AccountantKind::Rdp => format!("accountant: rdp, conversion: {}", self.conversion),
            AccountantKind::Prv => {
                "accountant: prv (eps_error 0.01, delta_error delta/1000)".to_owned()
            }
        }
    }
}

/// Runs the command and returns the lines to print (the answer last).
pub fn run(cli: &Cli) -> Result<Vec<String>> {
    match &cli.command {
        Command::Epsilon {
            noise_multiplier,
            common: c,
        } => {
            let ev = PrivacyEvent::new(*noise_multiplier, c.sample_rate, c.steps)
                .context("invalid schedule")?;
            let eps = epsilon_for(&[ev], c.delta, c.accountant, c.conversion)
                .context("cannot compute epsilon")?;
            Ok(output(
                c,
                &[
                    c.describe(),
                    format!(
                        "sample rate {}, noise multiplier {}, steps {}, delta {:e}",
                        c.sample_rate, noise_multiplier, c.steps, c.delta
                    ),
                ],
                "epsilon",
                eps,
            ))
        }
        Command::Noise {
            target_epsilon,
            common: c,
        } => {
            let sigma = noise_multiplier_for(
                *target_epsilon,
                c.delta,
                c.sample_rate,
                c.steps,
                c.accountant,
                c.conversion,
            )
            .context("cannot calibrate the noise multiplier")?;
            let ev = PrivacyEvent::new(sigma, c.sample_rate, c.steps)?;
            let eps = epsilon_for(&[ev], c.delta, c.accountant, c.conversion)?;
            Ok(output(
                c,
                &[
                    c.describe(),
                    format!(
                        "target epsilon {target_epsilon}, sample rate {}, steps {}, delta {:e}",
                        c.sample_rate, c.steps, c.delta
                    ),
                    format!("achieved epsilon {eps:.6}"),
                ],
                "noise_multiplier",
                sigma,
            ))
        }
    }
}

fn output(c: &Common, context: &[String], name: &str, value: f64) -> Vec<String> {
    if c.quiet {
        vec![value.to_string()]
    } else {
        let mut lines = context.to_vec();
        lines.push(format!("{name} = {value}"));
        lines
    }
}
