//! Headless Chromium loads the dashboard from a live server over the fake state and must
//! render its data. Skips (with a message) only when Chromium is absent and
//! FL_REQUIRE_CHROMIUM is unset; CI installs Chromium and sets it.
//! FL_DASHBOARD_SCREENSHOT=<path> keeps the screenshot (docs/dashboard.png is made this way).

mod common;

use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use tokio::process::Command;

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FL_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"]
                .into_iter()
                .map(move |n| dir.join(n))
        })
        .find(|p| p.is_file())
}

async fn chromium(bin: &Path, profile: &Path, extra: &[String], url: &str) -> String {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--virtual-time-budget=5000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url)
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium did not finish within 120 s")
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The opening tag of the element with this id.
fn tag<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in DOM"));
    let start = dom[..at].rfind('<').unwrap();
    let end = at + dom[at..].find('>').unwrap();
    &dom[start..=end]
}

/// Text content of a simple element (no children) with this id.
fn text<'a>(dom: &'a str, id: &str) -> &'a str {
    let t = tag(dom, id);
    let start = dom.find(t).unwrap() + t.len();
    let end = start + dom[start..].find('<').unwrap();
    &dom[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_renders_the_fake_state_in_headless_chromium() {
    let Some(bin) = find_chromium() else {
        assert!(
            std::env::var_os("FL_REQUIRE_CHROMIUM").is_none(),
            "FL_REQUIRE_CHROMIUM is set but no chromium was found in PATH (or FL_CHROMIUM)"
        );
        eprintln!(
            "SKIPPED: chromium not found (apt-get install -y chromium; set FL_REQUIRE_CHROMIUM to make this fatal)"
        );
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server =
        tokio::spawn(axum::serve(listener, app(Fake::new(), Some(KEY), false)).into_future());
    let profile = tempfile::tempdir().unwrap();

    let dom = chromium(&bin, profile.path(), &["--dump-dom".to_owned()], &url).await;

    assert!(
        tag(&dom, "chart-accuracy").contains("data-points=\"5\""),
        "{dom}"
    );
    assert!(tag(&dom, "chart-loss").contains("data-points=\"5\""));
    assert!(tag(&dom, "chart-duration").contains("data-points=\"5\""));
    assert!(tag(&dom, "chart-epsilon").contains("data-points=\"4\""));
    assert_eq!(
        dom.matches("class=\"point\"").count(),
        10,
        "accuracy + loss markers"
    );
    assert_eq!(
        dom.matches("class=\"bar\"").count(),
        9,
        "5 durations + 4 clients"
    );
    assert!(dom.contains("class=\"budget-line\"") && dom.contains("class=\"warn-line\""));
    assert_eq!(
        text(&dom, "kpi-accuracy"),
        format!("{:.2}%", accuracy(5) * 100.0)
    );
    assert_eq!(text(&dom, "phase"), "training");
    assert_eq!(text(&dom, "kpi-clients"), "3 / 4");
    assert_eq!(text(&dom, "run-id"), "run run-0001");
    for (id, _, _) in CLIENTS {
        assert!(
            dom.contains(&format!("data-client-id=\"{id}\"")),
            "client {id}"
        );
    }
    // Buttons follow the training state: running → only pause and stop.
    assert!(tag(&dom, "btn-start").contains("disabled"));
    assert!(!tag(&dom, "btn-pause").contains("disabled"));
    assert!(tag(&dom, "btn-resume").contains("disabled"));

    let shot = std::env::var_os("FL_DASHBOARD_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| profile.path().join("dashboard.png"));
    let shot = std::path::absolute(shot).unwrap();
    let profile2 = tempfile::tempdir().unwrap();
    chromium(
        &bin,
        profile2.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,900".to_owned(),
        ],
        &url,
    )
    .await;
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
    server.abort();
}
