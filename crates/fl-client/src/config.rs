//! The client's YAML configuration (`config/client.yaml` documents every key).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ClientError;

/// Whole client configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// Coordinator gRPC URL, e.g. `http://127.0.0.1:50051`.
    pub coordinator: String,
    /// Model the coordinator trains: `cnn-small`, `cnn-fedavg` or `scatter-linear` (checked against the task).
    pub model: String,
    /// Activation: `tanh` or `relu` (must match the coordinator's).
    pub activation: String,
    /// Local data.
    pub data: DataConfig,
    /// Seed of the partition (must be the same on every client so shards are disjoint).
    pub seed: u64,
    /// Training threads (0 = all cores).
    pub threads: usize,
    /// Warm-up steps to measure throughput for adaptive plans (0 = skip).
    pub warmup_steps: u32,
    /// GetTask long-poll duration, milliseconds.
    pub long_poll_ms: u64,
    /// Reconnection backoff.
    pub backoff: BackoffConfig,
    /// Enrollment token sent at registration (null = none; the coordinator decides whether
    /// it needs one). Prefer the `FL_CLIENT_TOKEN` variable to a token in a file.
    pub auth_token: Option<String>,
    /// TLS to the coordinator (required with an `https://` URL): the CA that signs the
    /// coordinator's certificate, the name it carries, and for mutual TLS this client's
    /// certificate and key.
    pub tls: Option<fl_tls::ClientTlsSettings>,
    /// RESEARCH AND TESTS ONLY: make this client an attacker that poisons its updates
    /// (`scale:<factor>`, `sign-flip`, `noise:<std>`), to test robust aggregation over the
    /// real network. Null for every real client.
    pub attack: Option<String>,
}

/// Where the client's shard comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// `mnist` or `fashion-mnist`.
    pub dataset: String,
    /// Data directory (null = FL_DATA_DIR and the usual places).
    pub data_dir: Option<PathBuf>,
    /// `iid`, `dirichlet:<alpha>` or `shards:<k>`.
    pub partition: String,
    /// Number of shards the training set is split into.
    pub num_partitions: usize,
    /// This client's shard (null = numeric suffix of the client id minus one).
    pub index: Option<usize>,
    /// Keep at most this many examples of the shard (0 = all).
    pub max_examples: usize,
}

/// Exponential backoff with jitter while the coordinator is unreachable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// First delay, milliseconds.
    pub initial_ms: u64,
    /// Largest delay, milliseconds.
    pub max_ms: u64,
    /// Give up after this many seconds without reaching the coordinator (0 = never).
    pub give_up_secs: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            coordinator: "http://127.0.0.1:50051".into(),
            model: "cnn-small".into(),
            activation: "tanh".into(),
            data: DataConfig::default(),
            seed: 42,
            threads: 0,
            warmup_steps: 3,
            long_poll_ms: 5000,
            backoff: BackoffConfig::default(),
            auth_token: None,
            tls: None,
            attack: None,
        }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: "mnist".into(),
            data_dir: None,
            partition: "iid".into(),
            num_partitions: 10,
            index: None,
            max_examples: 0,
        }
    }
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial_ms: 200,
            max_ms: 10_000,
            give_up_secs: 300,
        }
    }
}

impl ClientConfig {
    /// Reads a YAML file (unknown keys are errors) and validates it.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ClientError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_yaml(&text).map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))
    }

    /// Parses YAML; does not validate.
    pub fn from_yaml(text: &str) -> Result<Self, ClientError> {
        if text.trim().is_empty() || text.trim() == "{}" {
            return Ok(Self::default());
        }
        serde_saphyr::from_str(text).map_err(|e| ClientError::Config(e.to_string()))
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ClientError> {
        let bad = |m: String| Err(ClientError::Config(m));
        if !(self.coordinator.starts_with("http://") || self.coordinator.starts_with("https://")) {
            return bad(format!(
                "coordinator must be an http:// or https:// URL, got {:?}",
                self.coordinator
            ));
        }
        match (&self.tls, self.coordinator.starts_with("https://")) {
            (None, true) => {
                return bad("an https:// coordinator needs a tls section (ca, domain)".into());
            }
            (Some(_), false) => {
                return bad("tls is set but the coordinator URL is not https://".into());
            }
            (Some(t), true) => {
                for p in [Some(&t.ca), t.cert.as_ref(), t.key.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    if !p.is_file() {
                        return bad(format!("tls: no file at {}", p.display()));
                    }
                }
                if t.cert.is_some() != t.key.is_some() {
                    return bad("tls: cert and key go together".into());
                }
            }
            (None, false) => {}
        }
        if let Some(a) = &self.attack {
            a.parse::<fl_core::robust::Attack>()
                .map_err(|e| ClientError::Config(format!("attack: {e}")))?;
        }
        fl_ml::ModelSpec::parse(&self.model, &self.activation)
            .map_err(|e| ClientError::Config(format!("model/activation: {e}")))?;
        self.data
            .dataset
            .parse::<fl_data::DatasetName>()
            .map_err(|e| ClientError::Config(format!("data.dataset: {e}")))?;
        self.data
            .partition
            .parse::<fl_data::Partition>()
            .map_err(|e| ClientError::Config(format!("data.partition: {e}")))?;
        if self.data.num_partitions == 0 {
            return bad("data.num_partitions must be at least 1".into());
        }
        if let Some(i) = self.data.index
            && i >= self.data.num_partitions
        {
            return bad(format!(
                "data.index {i} is out of range for {} partitions",
                self.data.num_partitions
            ));
        }
        if self.backoff.initial_ms == 0 || self.backoff.max_ms < self.backoff.initial_ms {
            return bad("backoff: initial_ms must be positive and max_ms ≥ initial_ms".into());
        }
        if self.long_poll_ms == 0 {
            return bad("long_poll_ms must be positive".into());
        }
        Ok(())
    }

    /// This client's shard: `data.index`, else the numeric suffix of `client_id` minus one
    /// (`client-003` → 2), modulo the number of partitions.
    pub fn shard_index(&self, client_id: &str) -> Result<usize, ClientError> {
        if let Some(i) = self.data.index {
            return Ok(i);
        }
        let digits: String = client_id
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let n: usize = digits.parse().map_err(|_| {
            ClientError::Config(format!(
                "client id {client_id:?} has no numeric suffix; set data.index"
            ))
        })?;
        Ok(n.saturating_sub(1) % self.data.num_partitions)
    }
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)] // one changed field per case reads best
mod tests {
    use super::*;

    #[test]
    fn parse_validate_and_shard_index() {
        let c = ClientConfig::from_yaml("data:\n  num_partitions: 4\n").unwrap();
        c.validate().unwrap();
        assert_eq!(c.shard_index("client-003").unwrap(), 2);
        assert_eq!(c.shard_index("client-005").unwrap(), 0);
        assert!(c.shard_index("alice").is_err());
        assert!(ClientConfig::from_yaml("dataa: 1\n").is_err());
        let mut c = ClientConfig::default();
        c.data.partition = "weird".into();
        assert!(c.validate().unwrap_err().to_string().contains("partition"));
        let mut c = ClientConfig::default();
        c.coordinator = "127.0.0.1:1".into();
        assert!(c.validate().is_err());
        let mut c = ClientConfig::default();
        c.coordinator = "https://127.0.0.1:1".into();
        assert!(c.validate().unwrap_err().to_string().contains("tls"));
        c.tls = Some(fl_tls::ClientTlsSettings {
            ca: "/nonexistent/ca.pem".into(),
            cert: None,
            key: None,
            domain: "localhost".into(),
        });
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/ca.pem")
        );
    }
}
