//! Downloading through `curl` from `file://` mirrors (offline).

mod common;

use std::fs;
use std::path::Path;

use common::{fixture_dir, full_mnist_dir};
use fl_data::download::canonical_files;
use fl_data::{DatasetName, DownloadOptions, Error, Locator, Split, download, verify_dir};

fn file_url(dir: &Path) -> String {
    format!("file://{}/", dir.canonicalize().unwrap().display())
}

fn make_mirror(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for f in canonical_files() {
        fs::copy(from.join(&f), to.join(&f)).unwrap();
    }
}

/// Entries of `dir`, sorted, as strings.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn download_full_mnist_from_file_mirror_and_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("mirror");
    make_mirror(&full_mnist_dir(), &mirror);
    // Through the locator: nothing local, so it downloads into <local_root>/mnist.
    let loc = Locator {
        local_root: tmp.path().join("data"),
        system_root: tmp.path().join("system"),
        allow_download: true,
        download: DownloadOptions {
            mirror: Some(file_url(&mirror)),
            ..Default::default()
        },
        ..Locator::default()
    };
    let dir = loc.locate(DatasetName::Mnist).unwrap();
    assert_eq!(dir, tmp.path().join("data/mnist"));
    let mut want: Vec<String> = canonical_files().into();
    want.sort();
    assert_eq!(entries(&dir), want);
    assert_eq!(entries(&tmp.path().join("data")), vec!["mnist".to_string()]); // no staging left
    verify_dir(DatasetName::Mnist, &dir).unwrap();
    assert_eq!(
        loc.load(DatasetName::Mnist, Split::Test).unwrap().len(),
        10_000
    );
}

#[test]
fn corrupted_mirror_gives_checksum_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("mirror");
    // Valid IDX files, but not the real MNIST: checksums must reject them.
    make_mirror(&fixture_dir(), &mirror);
    let dest = tmp.path().join("data/mnist");
    let opts = DownloadOptions {
        mirror: Some(file_url(&mirror)),
        ..Default::default()
    };
    match download(DatasetName::Mnist, &dest, &opts) {
        Err(Error::Checksum {
            file,
            expected,
            actual,
            ..
        }) => {
            assert_eq!(file, "train-images-idx3-ubyte.gz");
            assert_ne!(expected, actual);
        }
        other => panic!("expected Checksum error, got {other:?}"),
    }
    assert!(!dest.exists());
    assert!(
        entries(&tmp.path().join("data")).is_empty(),
        "staging left behind"
    );
}

#[test]
fn late_corruption_also_leaves_nothing() {
    // First three files good, the last one truncated: nothing may be moved in.
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("mirror");
    make_mirror(&full_mnist_dir(), &mirror);
    let last = mirror.join("t10k-labels-idx1-ubyte.gz");
    let bytes = fs::read(&last).unwrap();
    fs::write(&last, &bytes[..bytes.len() / 2]).unwrap();
    let dest = tmp.path().join("data/mnist");
    let opts = DownloadOptions {
        mirror: Some(file_url(&mirror)),
        ..Default::default()
    };
    let err = download(DatasetName::Mnist, &dest, &opts).unwrap_err();
    assert!(
        err.to_string().contains("t10k-labels-idx1-ubyte.gz"),
        "{err}"
    );
    assert!(!dest.exists());
    assert!(entries(&tmp.path().join("data")).is_empty());
}

#[test]
fn missing_mirror_file_is_a_download_error_listed_by_locate() {
    let tmp = tempfile::tempdir().unwrap();
    let loc = Locator {
        local_root: tmp.path().join("data"),
        system_root: tmp.path().join("system"),
        download: DownloadOptions {
            mirror: Some(format!("{}{{name}}", file_url(tmp.path()))),
            ..Default::default()
        },
        ..Locator::default()
    };
    let err = loc.locate(DatasetName::FashionMnist).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(
        msg.contains("download from file://") && msg.contains("curl exited"),
        "{msg}"
    );
    assert!(
        msg.contains("/fashion-mnist/train-images-idx3-ubyte.gz"),
        "{msg}"
    );
    assert!(entries(&tmp.path().join("data")).is_empty());
}
