//! # fl-sim: a whole federation in one process
//!
//! `fl-sim` drives `fl-core`'s [`RoundEngine`] — the same state machine the
//! gRPC coordinator drives — with in-process clients that train through
//! `fl-ml`'s [`LocalTrainer`], the same trainer `fl-client` uses. Updates go
//! through the same codecs (bytes are counted as if on the wire), the same
//! validation and the same strategies; only the transport differs.
//!
//! With `transport: grpc` ([`Transport::Grpc`]) the same federation runs through the real
//! deployment stack instead: an in-process `fl-coordinator` and one `fl-client` per
//! simulated client over loopback gRPC ([`grpc`]), and the coordinator's report is the
//! result. Same seed, same shards, same engine: the two agree to within floating-point
//! summation order.
//!
//! ```no_run
//! use fl_sim::{SimConfig, run, Quiet};
//! let cfg = SimConfig { clients: 3, rounds: 2, train_limit: Some(3000), ..SimConfig::default() };
//! let report = run(&cfg, &mut Quiet).unwrap();
//! println!("{:?}", report.final_accuracy);
//! ```

pub mod config;
mod driver;
pub mod grpc;
pub use driver::write_report;

pub use config::{Parsed, SimConfig, SimFlags, Transport};
pub use driver::{Observer, Quiet, RoundRow};

/// Runs a simulation to the end over the configured [`Transport`] and returns its report
/// (also written to `cfg.report` when set).
///
/// With [`Transport::Grpc`] this builds its own tokio runtime, so it must not be called
/// from inside one.
pub fn run(
    cfg: &SimConfig,
    obs: &mut dyn Observer,
) -> Result<fl_core::report::RunReport, SimError> {
    match cfg.transport {
        Transport::Inproc => driver::run(cfg, obs),
        Transport::Grpc => grpc::run(cfg, obs),
    }
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Bad configuration (reported before any work starts).
    #[error("configuration: {0}")]
    Config(String),
    /// The data set could not be found or read.
    #[error("data: {0}")]
    Data(#[from] fl_data::Error),
    /// Training or evaluation failed.
    #[error("training: {0}")]
    Ml(#[from] fl_ml::MlError),
    /// Writing the report or model failed.
    #[error("output: {0}")]
    Output(String),
    /// The gRPC federation (coordinator, clients or runtime) failed.
    #[error("grpc federation: {0}")]
    Transport(String),
}
