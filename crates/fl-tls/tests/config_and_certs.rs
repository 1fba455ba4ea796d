//! File handling: clear errors naming the path, dev-cert generation rules, identity parsing.

mod common;

use common::Pki;
use fl_tls::devcerts::{DevCa, DevCertSpec, generate_dev_pki};
use fl_tls::{
    CertGenError, IdentityError, TlsConfig, TlsError, client_id_from_der_chain, client_tls,
    rustls_server_config, server_tls,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

fn spec(out: &std::path::Path, clients: &[&str]) -> DevCertSpec {
    DevCertSpec {
        out: out.to_path_buf(),
        server_name: "localhost".into(),
        server_ips: vec![],
        clients: clients.iter().map(|s| s.to_string()).collect(),
        days: 10,
        expired: false,
        force: false,
    }
}

#[test]
fn missing_file_error_names_the_path() {
    let pki = Pki::new();
    let mut cfg = pki.server("server", None);
    cfg.key = pki.path("nope.key");
    let err = server_tls(&cfg).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::Read {
                what: "private key",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("nope.key"), "{err}");
}

#[test]
fn garbage_pem_is_rejected_with_path() {
    let pki = Pki::new();
    std::fs::write(pki.path("junk.pem"), "not a certificate\n").unwrap();
    let mut cfg = pki.server("server", None);
    cfg.cert = pki.path("junk.pem");
    let err = rustls_server_config(&cfg).unwrap_err();
    assert!(matches!(err, TlsError::InvalidPem { .. }), "{err}");
    assert!(err.to_string().contains("junk.pem"), "{err}");

    // A key file where the CA should be.
    let mut settings = pki.client("ca.key", None);
    let err = client_tls(&settings).unwrap_err();
    assert!(err.to_string().contains("ca.key"), "{err}");
    settings.ca = pki.path("ca.pem");
    settings.key = Some(pki.path("ca.pem"));
    settings.cert = Some(pki.path("client-001.pem"));
    let err = client_tls(&settings).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::InvalidPem {
                what: "private key",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn key_not_matching_certificate_is_rejected() {
    let pki = Pki::new();
    let mut cfg = pki.server("server", None);
    cfg.key = pki.path("client-001.key");
    assert!(matches!(server_tls(&cfg).unwrap_err(), TlsError::Rustls(_)));
    let mut settings = pki.client("ca.pem", Some("client-001"));
    settings.key = Some(pki.path("client-002.key"));
    assert!(matches!(
        client_tls(&settings).unwrap_err(),
        TlsError::Rustls(_)
    ));
}

#[test]
fn client_cert_without_key_is_rejected() {
    let pki = Pki::new();
    let mut settings = pki.client("ca.pem", Some("client-001"));
    settings.key = None;
    assert!(matches!(
        client_tls(&settings).unwrap_err(),
        TlsError::InvalidSettings(_)
    ));
}

#[test]
fn tls_config_rejects_unknown_fields() {
    let ok: TlsConfig =
        serde_json::from_str(r#"{"cert":"a.pem","key":"a.key","client_ca":"ca.pem"}"#).unwrap();
    assert!(ok.client_ca.is_some());
    let no_ca: TlsConfig = serde_json::from_str(r#"{"cert":"a.pem","key":"a.key"}"#).unwrap();
    assert!(no_ca.client_ca.is_none());
    let err = serde_json::from_str::<TlsConfig>(r#"{"cert":"a","key":"b","ca":"c"}"#);
    assert!(err.unwrap_err().to_string().contains("unknown field"));
}

#[test]
fn dev_pki_writes_expected_files_with_private_keys_0600() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let paths = generate_dev_pki(&spec(&out, &["client-001"])).unwrap();
    let names: Vec<_> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "ca.pem",
            "ca.key",
            "server.pem",
            "server.key",
            "client-001.pem",
            "client-001.key"
        ]
    );
    #[cfg(unix)]
    for p in &paths {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let want = if p.extension().unwrap() == "key" {
            0o600
        } else {
            0o644
        };
        assert_eq!(mode, want, "{}", p.display());
    }
}

#[test]
fn dev_pki_never_overwrites_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), &["client-001"]);
    generate_dev_pki(&s).unwrap();
    let before = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let err = generate_dev_pki(&s).unwrap_err();
    assert!(matches!(err, CertGenError::Exists(_)), "{err}");
    assert_eq!(std::fs::read(dir.path().join("ca.pem")).unwrap(), before);
    let forced = DevCertSpec { force: true, ..s };
    generate_dev_pki(&forced).unwrap();
    assert_ne!(std::fs::read(dir.path().join("ca.pem")).unwrap(), before);
}

#[test]
fn dev_pki_rejects_bad_arguments_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        &["ok", "bad/id"][..],
        &["../x"],
        &[""],
        &["dup", "dup"],
        &["ca"],
    ] {
        let err = generate_dev_pki(&spec(dir.path(), bad)).unwrap_err();
        assert!(
            matches!(err, CertGenError::BadArgument(_)),
            "{bad:?}: {err}"
        );
    }
    let mut s = spec(dir.path(), &["a"]);
    s.days = 0;
    assert!(matches!(
        generate_dev_pki(&s),
        Err(CertGenError::BadArgument(_))
    ));
    s.days = 10;
    s.server_name = "bad name".into();
    assert!(matches!(
        generate_dev_pki(&s),
        Err(CertGenError::BadArgument(_))
    ));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

fn leaf(pem: &str) -> Vec<CertificateDer<'static>> {
    vec![CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()]
}

#[test]
fn identity_rules() {
    let ca = DevCa::generate("t", 5).unwrap();
    let pair = ca.client_cert("site_7.a", 5, false).unwrap();
    assert_eq!(
        client_id_from_der_chain(&leaf(&pair.cert_pem)).unwrap(),
        "site_7.a"
    );
    assert_eq!(
        client_id_from_der_chain(&[]),
        Err(IdentityError::NoCertificate)
    );
    // Without a urn:fl:client: URI SAN the subject CN is the id.
    let server = ca.server_cert("localhost", &[], 5, false).unwrap();
    assert_eq!(
        client_id_from_der_chain(&leaf(&server.cert_pem)).unwrap(),
        "localhost"
    );
    assert!(matches!(
        client_id_from_der_chain(&[CertificateDer::from(vec![1u8, 2, 3])]),
        Err(IdentityError::Parse(_))
    ));

    // URI SAN and CN that disagree are refused.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "alice");
    params.subject_alt_names = vec![rcgen::SanType::URI("urn:fl:client:bob".try_into().unwrap())];
    let cert = params.self_signed(&key).unwrap();
    assert_eq!(
        client_id_from_der_chain(&[cert.der().clone()]),
        Err(IdentityError::Ambiguous {
            uri: "bob".into(),
            cn: "alice".into()
        })
    );
    // No CN, no URI SAN.
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.subject_alt_names = vec![];
    let cert = params.self_signed(&key).unwrap();
    assert_eq!(
        client_id_from_der_chain(&[cert.der().clone()]),
        Err(IdentityError::NoIdentity)
    );
    // A CN that is not a valid id.
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "a b");
    let cert = params.self_signed(&key).unwrap();
    assert_eq!(
        client_id_from_der_chain(&[cert.der().clone()]),
        Err(IdentityError::InvalidId("a b".into()))
    );
}

#[test]
fn cli_generates_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fl-certs"))
            .args(["dev", "--out"])
            .arg(&out)
            .args(["--server-name", "localhost", "--server-ip", "127.0.0.1"])
            .args(["--clients", "client-001,client-002", "--days", "2"])
            .args(extra)
            .output()
            .unwrap()
    };
    let first = run(&[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(out.join("client-002.key").exists());
    let second = run(&[]);
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already exists"));
    assert!(run(&["--force"]).status.success());
    let bad = run(&["--force", "--days", "0"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--days"));
}
