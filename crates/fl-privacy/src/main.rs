//! `fl-privacy`: ε for a DP-SGD / DP-FedAvg schedule, or σ for a target ε.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = fl_privacy::Cli::parse();
    match fl_privacy::run(&cli) {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
