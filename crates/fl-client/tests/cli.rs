//! Bad configuration and arguments: non-zero exit and a message naming the problem.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_fl-client");

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_config_and_arguments_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let bad = p("bad.yaml", "data: {partition: weird}\n");
    let (code, err) = run(&["--config", &bad, "--client-id", "client-001"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("partition"), "{err}");
    let unknown = p("unknown.yaml", "coordinatr: http://x\n");
    let (code, err) = run(&["--config", &unknown, "--client-id", "client-001"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("coordinatr"), "{err}");
    let ok = p("ok.yaml", "");
    let (code, err) = run(&["--config", &ok, "--client-id", "alice"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("numeric suffix"), "{err}");
    let (code, err) = run(&[
        "--config",
        &ok,
        "--client-id",
        "client-001",
        "--coordinator",
        "localhost:1",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("coordinator"), "{err}");
    let (code, _) = run(&["--config", &ok]);
    assert_ne!(code, 0, "--client-id or --swarm is required");
    let (code, err) = run(&[
        "--config",
        "/nonexistent/client.yaml",
        "--client-id",
        "client-001",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/client.yaml"), "{err}");
}
