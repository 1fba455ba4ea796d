//! `fl-certs`: development certificates for TLS / mutual TLS.
//!
//! `fl-certs dev --out DIR --server-name localhost --server-ip 127.0.0.1 --clients a,b`
//! writes `ca.pem`/`ca.key`, `server.pem`/`server.key` and `<client>.pem`/`<client>.key`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fl_tls::devcerts::{DevCertSpec, generate_dev_pki};

#[derive(Parser, Debug)]
#[command(
    name = "fl-certs",
    version,
    about = "Development certificates for fl TLS/mTLS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a dev CA, a server certificate and one certificate per client.
    Dev {
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// DNS name clients use to reach the server (CN and DNS SAN).
        #[arg(long, default_value = "localhost")]
        server_name: String,
        /// IP address SANs for the server certificate (repeat or comma-separate).
        #[arg(long, value_delimiter = ',')]
        server_ip: Vec<IpAddr>,
        /// Client ids, comma-separated (e.g. client-001,client-002).
        #[arg(long, value_delimiter = ',')]
        clients: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Issue server and client certificates that have already expired (for tests).
        #[arg(long)]
        expired: bool,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Dev {
            out,
            server_name,
            server_ip,
            clients,
            days,
            expired,
            force,
        } => {
            let spec = DevCertSpec {
                out,
                server_name,
                server_ips: server_ip,
                clients,
                days,
                expired,
                force,
            };
            match generate_dev_pki(&spec) {
                Ok(paths) => {
                    for p in paths {
                        println!("{}", p.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("fl-certs: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
