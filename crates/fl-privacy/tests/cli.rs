//! Runs the built `fl-privacy` binary with good and bad arguments.

use fl_core::privacy::{AccountantKind, Conversion, PrivacyEvent, epsilon_for};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fl-privacy"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn quiet_number(o: &Output) -> f64 {
    assert!(o.status.success(), "stderr: {}", stderr(o));
    let out = stdout(o);
    assert_eq!(out.lines().count(), 1, "quiet prints one line: {out:?}");
    out.trim().parse().expect("quiet output is a number")
}

const MNIST: [&str; 8] = [
    "--sample-rate",
    "0.004",
    "--steps",
    "15000",
    "--delta",
    "1e-5",
    "--noise-multiplier",
    "1.1",
];

#[test]
fn epsilon_quiet_prints_only_the_library_value() {
    for (conv, c) in [
        ("classic", Conversion::Classic),
        ("balle", Conversion::Balle),
    ] {
        let mut args = vec!["epsilon", "--quiet", "--conversion", conv];
        args.extend(MNIST);
        let got = quiet_number(&run(&args));
        let ev = PrivacyEvent::new(1.1, 0.004, 15000).unwrap();
        let want = epsilon_for(&[ev], 1e-5, AccountantKind::Rdp, c).unwrap();
        assert_eq!(got, want, "{conv}");
    }
}

#[test]
fn epsilon_verbose_ends_with_the_value() {
    let mut args = vec!["epsilon", "--accountant", "prv"];
    args.extend(MNIST);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("accountant: prv"), "{out}");
    let last = out.lines().last().unwrap();
    let value: f64 = last
        .strip_prefix("epsilon = ")
        .expect("last line names epsilon")
        .parse()
        .unwrap();
    let ev = PrivacyEvent::new(1.1, 0.004, 15000).unwrap();
    assert_eq!(
        value,
        epsilon_for(&[ev], 1e-5, AccountantKind::Prv, Conversion::Balle).unwrap()
    );
}

#[test]
fn noise_calibrates_below_the_target() {
    let sigma = quiet_number(&run(&[
        "noise",
        "--target-epsilon",
        "2",
        "--sample-rate",
        "0.01",
        "--steps",
        "1000",
        "--delta",
        "1e-5",
        "--quiet",
    ]));
    let ev = PrivacyEvent::new(sigma, 0.01, 1000).unwrap();
    let eps = epsilon_for(&[ev], 1e-5, AccountantKind::Rdp, Conversion::Balle).unwrap();
    assert!(
        eps <= 2.0 && eps > 2.0 - 0.011,
        "sigma {sigma} gives epsilon {eps}"
    );
}

#[test]
fn bad_arguments_fail_cleanly() {
    let base = |q: &'static str, s: &'static str, d: &'static str, t: &'static str| {
        vec![
            "epsilon",
            "--sample-rate",
            q,
            "--noise-multiplier",
            s,
            "--delta",
            d,
            "--steps",
            t,
        ]
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (base("1.5", "1.0", "1e-5", "10"), "sample rate"),
        (base("0", "1.0", "1e-5", "10"), "sample rate"),
        (base("nan", "1.0", "1e-5", "10"), "sample rate"),
        (base("0.01", "0", "1e-5", "10"), "noise multiplier"),
        (base("0.01", "-1", "1e-5", "10"), "noise multiplier"),
        (base("0.01", "inf", "1e-5", "10"), "noise multiplier"),
        (base("0.01", "1.0", "1", "10"), "delta"),
        (base("0.01", "1.0", "0", "10"), "delta"),
        (base("0.01", "1.0", "1e-5", "0"), "steps"),
        (base("abc", "1.0", "1e-5", "10"), "sample-rate"),
        (base("0.01", "1.0", "1e-5", "-3"), "steps"),
        (base("0.01", "1.0", "x", "10"), "delta"),
        (vec!["epsilon", "--sample-rate", "0.01"], "required"),
        (
            vec![
                "epsilon",
                "--sample-rate",
                "0.01",
                "--noise-multiplier",
                "1",
                "--delta",
                "1e-5",
                "--steps",
                "5",
                "--accountant",
                "gdp",
            ],
            "accountant",
        ),
        (
            vec![
                "noise",
                "--target-epsilon",
                "-1",
                "--sample-rate",
                "0.01",
                "--delta",
                "1e-5",
                "--steps",
                "5",
            ],
            "epsilon",
        ),
        (vec!["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let o = run(&args);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(
            err.to_lowercase().contains(needle),
            "{args:?}: stderr {err:?} lacks {needle:?}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(stdout(&o).is_empty(), "{args:?} printed to stdout");
    }
}
