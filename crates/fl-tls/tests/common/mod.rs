//! Shared test fixtures: a dev PKI on disk and small clients.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fl_tls::devcerts::{DevCa, DevCertSpec, PemPair, generate_dev_pki};
use fl_tls::{ClientTlsSettings, TlsConfig};

/// A dev PKI in a temp dir: ca, server (localhost + 127.0.0.1), client-001, client-002, plus a
/// second unrelated CA ("other") with its own client and server certs, and an expired server
/// certificate from the main CA.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        generate_dev_pki(&DevCertSpec {
            out: dir.path().to_path_buf(),
            server_name: "localhost".into(),
            server_ips: vec!["127.0.0.1".parse().unwrap()],
            clients: vec!["client-001".into(), "client-002".into()],
            days: 30,
            expired: false,
            force: false,
        })
        .unwrap();
        // A second PKI whose server/client certificates are already expired (its CA is valid).
        generate_dev_pki(&DevCertSpec {
            out: dir.path().join("expired"),
            server_name: "localhost".into(),
            server_ips: vec![],
            clients: vec!["client-001".into()],
            days: 30,
            expired: true,
            force: false,
        })
        .unwrap();
        let other = DevCa::generate("other", 30).unwrap();
        write(dir.path(), "other-ca", &other.pem());
        write(
            dir.path(),
            "other-client",
            &other.client_cert("client-001", 30, false).unwrap(),
        );
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Server config from `<stem>.pem/.key` (relative to the PKI dir), optional client CA.
    pub fn server(&self, stem: &str, client_ca: Option<&str>) -> TlsConfig {
        TlsConfig {
            cert: self.path(&format!("{stem}.pem")),
            key: self.path(&format!("{stem}.key")),
            client_ca: client_ca.map(|c| self.path(c)),
        }
    }

    /// Client settings trusting `ca`, presenting `<client>.pem/.key` if given.
    pub fn client(&self, ca: &str, client: Option<&str>) -> ClientTlsSettings {
        ClientTlsSettings {
            ca: self.path(ca),
            cert: client.map(|c| self.path(&format!("{c}.pem"))),
            key: client.map(|c| self.path(&format!("{c}.key"))),
            domain: "localhost".into(),
        }
    }

    /// A rustls client config for the REST tests, built from the same settings.
    pub fn rustls_client(&self, settings: &ClientTlsSettings) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&settings.ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let b = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let cfg = match (&settings.cert, &settings.key) {
            (Some(c), Some(k)) => {
                let certs = CertificateDer::pem_file_iter(c)
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap();
                b.with_client_auth_cert(certs, PrivateKeyDer::from_pem_file(k).unwrap())
                    .unwrap()
            }
            _ => b.with_no_client_auth(),
        };
        Arc::new(cfg)
    }
}

pub fn write(dir: &Path, stem: &str, pair: &PemPair) {
    std::fs::write(dir.join(format!("{stem}.pem")), &pair.cert_pem).unwrap();
    std::fs::write(dir.join(format!("{stem}.key")), &pair.key_pem).unwrap();
}
