//! The coordinator behind mutual TLS and client enrollment: only enrolled clients with the
//! right token and a certificate for their own id get in; everyone else gets a specific
//! refusal, the refusal is counted, and the honest client's round completes.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fl_coordinator::Coordinator;
use fl_proto::PROTOCOL_VERSION;
use fl_proto::pb::{self, federation_client::FederationClient};
use fl_tls::ClientTlsSettings;
use fl_tls::devcerts::{DevCa, PemPair};
use sha2::{Digest, Sha256};
use tonic::Code;
use tonic::transport::Endpoint;

fn write(dir: &Path, stem: &str, pair: &PemPair) -> (PathBuf, PathBuf) {
    let (c, k) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&c, &pair.cert_pem).unwrap();
    std::fs::write(&k, &pair.key_pem).unwrap();
    (c, k)
}

fn sha(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Registers as `id` with `token` over TLS trusting `ca`, presenting `cert` (if any).
async fn register(
    addr: std::net::SocketAddr,
    ca: &Path,
    cert: Option<&(PathBuf, PathBuf)>,
    id: &str,
    token: &str,
) -> Result<(), (Code, String)> {
    let tls = fl_tls::client_tls(&ClientTlsSettings {
        ca: ca.to_path_buf(),
        cert: cert.map(|c| c.0.clone()),
        key: cert.map(|c| c.1.clone()),
        domain: "localhost".into(),
    })
    .unwrap();
    let ep = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .tls_config(tls)
        .unwrap();
    let ch = match ep.connect().await {
        Ok(ch) => ch,
        Err(e) => return Err((Code::Unavailable, format!("{e:?}"))),
    };
    FederationClient::new(ch)
        .register(pb::RegisterRequest {
            client_id: id.into(),
            auth_token: token.into(),
            capabilities: None,
            protocol_version: PROTOCOL_VERSION,
        })
        .await
        .map(|_| ())
        .map_err(|s| (s.code(), s.message().to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_enrolled_clients_with_their_own_certificate_get_in() {
    fl_tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = DevCa::generate("test", 30).unwrap();
    let (ca_pem, _) = write(d, "ca", &ca.pem());
    let server = write(
        d,
        "server",
        &ca.server_cert("localhost", &["127.0.0.1".parse().unwrap()], 30, false)
            .unwrap(),
    );
    let c1 = write(
        d,
        "client-001",
        &ca.client_cert("client-001", 30, false).unwrap(),
    );
    let c3 = write(
        d,
        "client-003",
        &ca.client_cert("client-003", 30, false).unwrap(),
    );
    let c9 = write(
        d,
        "client-009",
        &ca.client_cert("client-009", 30, false).unwrap(),
    );
    let expired = write(d, "old", &ca.client_cert("client-001", 30, true).unwrap());
    let other_ca = DevCa::generate("other", 30).unwrap();
    let (other_ca_pem, _) = write(d, "other-ca", &other_ca.pem());
    let foreign = write(
        d,
        "foreign",
        &other_ca.client_cert("client-001", 30, false).unwrap(),
    );
    let clients = d.join("clients.yaml");
    std::fs::write(
        &clients,
        format!(
            "client-001:\n  token_sha256: {}\nclient-003:\n  token_sha256: {}\n  revoked: true\n",
            sha("tok-1"),
            sha("tok-3")
        ),
    )
    .unwrap();

    let mut cfg = common::coordinator_config(d, "sec");
    cfg.rounds = 1;
    cfg.min_clients = 1;
    cfg.security.clients_file = Some(clients);
    cfg.security.tls = Some(fl_tls::TlsConfig {
        cert: server.0.clone(),
        key: server.1.clone(),
        client_ca: Some(ca_pem.clone()),
    });
    let coord = Coordinator::start(cfg).await.unwrap();
    let addr = coord.grpc_addr;

    // Wrong token, empty token.
    let (code, msg) = register(addr, &ca_pem, Some(&c1), "client-001", "tok-X")
        .await
        .unwrap_err();
    assert_eq!(code, Code::Unauthenticated, "{msg}");
    assert!(msg.contains("token") && !msg.contains("tok-X"), "{msg}");
    let (code, _) = register(addr, &ca_pem, Some(&c1), "client-001", "")
        .await
        .unwrap_err();
    assert_eq!(code, Code::Unauthenticated);
    // Forged id: client-001's certificate registering as client-003.
    let (code, msg) = register(addr, &ca_pem, Some(&c1), "client-003", "tok-3")
        .await
        .unwrap_err();
    assert_eq!(code, Code::PermissionDenied, "{msg}");
    assert!(msg.contains("client-001"), "{msg}");
    // Revoked, with its own certificate and token.
    let (code, msg) = register(addr, &ca_pem, Some(&c3), "client-003", "tok-3")
        .await
        .unwrap_err();
    assert_eq!(code, Code::PermissionDenied, "{msg}");
    assert!(msg.contains("revoked"), "{msg}");
    // A valid certificate but never enrolled.
    let (code, msg) = register(addr, &ca_pem, Some(&c9), "client-009", "tok-1")
        .await
        .unwrap_err();
    assert_eq!(code, Code::Unauthenticated, "{msg}");
    assert!(msg.contains("not enrolled"), "{msg}");
    // TLS failures never reach the service: no client certificate (mTLS required), an
    // expired one, one from another CA, and a client that trusts another CA.
    for (what, ca_file, cert) in [
        ("no client certificate", &ca_pem, None),
        ("expired certificate", &ca_pem, Some(&expired)),
        ("certificate from another CA", &ca_pem, Some(&foreign)),
        ("client trusts another CA", &other_ca_pem, Some(&c1)),
    ] {
        let r = register(addr, ca_file, cert, "client-001", "tok-1").await;
        let (code, msg) = r.expect_err(what);
        assert!(
            matches!(code, Code::Unavailable | Code::Unknown | Code::Cancelled),
            "{what}: {code:?} {msg}"
        );
    }
    assert_eq!(coord.shared.snap().completed, 0);
    assert_eq!(coord.shared.rejection_counts().get("auth"), Some(&5));

    // The honest client: its own certificate and token, through the real fl-client.
    let mut ccfg = common::client_config(addr, 10, 0);
    ccfg.coordinator = format!("https://{addr}");
    ccfg.auth_token = Some("tok-1".into());
    ccfg.tls = Some(ClientTlsSettings {
        ca: ca_pem.clone(),
        cert: Some(c1.0.clone()),
        key: Some(c1.1.clone()),
        domain: "localhost".into(),
    });
    ccfg.validate().unwrap();
    let worker = fl_client::Worker::fake(fl_ml::ModelSpec::default(), 100, Duration::ZERO);
    let honest = tokio::spawn(fl_client::Client::new(ccfg.clone(), "client-001", worker).run());
    let out = tokio::time::timeout(Duration::from_secs(60), coord.wait())
        .await
        .expect("run finished")
        .unwrap();
    assert_eq!(out.report.outcome, "completed");
    assert_eq!(
        out.report.rounds[0].participants,
        vec!["client-001".to_string()]
    );
    let summary = honest.await.unwrap().unwrap();
    assert_eq!(summary.accepted, 1);

    // fl-client with a wrong token stops with the coordinator's reason instead of retrying.
    let mut cfg2 = common::coordinator_config(d, "sec2");
    cfg2.min_clients = 1;
    cfg2.security.clients_file = Some(d.join("clients.yaml"));
    cfg2.security.tls = Some(fl_tls::TlsConfig {
        cert: server.0,
        key: server.1,
        client_ca: Some(ca_pem),
    });
    let coord2 = Coordinator::start(cfg2).await.unwrap();
    ccfg.coordinator = format!("https://{}", coord2.grpc_addr);
    ccfg.auth_token = Some("wrong".into());
    let worker = fl_client::Worker::fake(fl_ml::ModelSpec::default(), 100, Duration::ZERO);
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        fl_client::Client::new(ccfg, "client-001", worker).run(),
    )
    .await
    .expect("refused promptly")
    .unwrap_err();
    assert!(err.to_string().contains("registration refused"), "{err}");
    coord2.stop().await.unwrap();
}
