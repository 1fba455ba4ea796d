//! Loading and locating data sets, on the small committed fixture.

mod common;

use std::fs;
use std::path::Path;

use common::{fixture_dir, gunzip};
use fl_data::{Dataset, DatasetName, Error, Locator, Split};

fn offline_locator() -> Locator {
    Locator {
        local_root: "/nonexistent/fl-data-test/local".into(),
        system_root: "/nonexistent/fl-data-test/system".into(),
        allow_download: false,
        ..Locator::default()
    }
}

/// Copies the fixture into `dir`, decompressing it (uncompressed names).
fn copy_fixture_raw(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for e in fs::read_dir(fixture_dir()).unwrap() {
        let p = e.unwrap().path();
        let name = p
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches(".gz")
            .to_string();
        fs::write(dir.join(name), gunzip(&fs::read(&p).unwrap())).unwrap();
    }
}

#[test]
fn fixture_loads() {
    let train = Dataset::load_dir(&fixture_dir(), DatasetName::Mnist, Split::Train).unwrap();
    let test = Dataset::load_dir(&fixture_dir(), DatasetName::Mnist, Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (200, 100));
    assert_eq!((train.rows(), train.cols()), (28, 28));
    assert_eq!(train.images().len(), 200 * 784);
    // The well-known first labels of MNIST train and test.
    assert_eq!(&train.labels()[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(&test.labels()[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    assert_eq!(train.class_counts().iter().sum::<usize>(), 200);
}

#[test]
fn uncompressed_files_load_identically() {
    let tmp = tempfile::tempdir().unwrap();
    copy_fixture_raw(tmp.path());
    for split in Split::ALL {
        let a = Dataset::load_dir(&fixture_dir(), DatasetName::Mnist, split).unwrap();
        let b = Dataset::load_dir(tmp.path(), DatasetName::Mnist, split).unwrap();
        assert_eq!(a, b);
    }
}

#[test]
fn gzip_detected_by_content_not_name() {
    // Gzip bytes under the uncompressed name, raw bytes under the .gz name.
    let tmp = tempfile::tempdir().unwrap();
    let fx = fixture_dir();
    fs::copy(
        fx.join("train-images-idx3-ubyte.gz"),
        tmp.path().join("train-images-idx3-ubyte"),
    )
    .unwrap();
    let raw = gunzip(&fs::read(fx.join("train-labels-idx1-ubyte.gz")).unwrap());
    fs::write(tmp.path().join("train-labels-idx1-ubyte.gz"), raw).unwrap();
    let a = Dataset::load_dir(&fx, DatasetName::Mnist, Split::Train).unwrap();
    let b = Dataset::load_dir(tmp.path(), DatasetName::Mnist, Split::Train).unwrap();
    assert_eq!(a, b);
}

#[test]
fn count_mismatch_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = fixture_dir();
    fs::copy(
        fx.join("train-images-idx3-ubyte.gz"),
        tmp.path().join("train-images-idx3-ubyte.gz"),
    )
    .unwrap();
    // 100 test labels next to 200 train images.
    fs::copy(
        fx.join("t10k-labels-idx1-ubyte.gz"),
        tmp.path().join("train-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    match Dataset::load_dir(tmp.path(), DatasetName::Mnist, Split::Train) {
        Err(Error::CountMismatch {
            images: 200,
            labels: 100,
        }) => {}
        other => panic!("expected CountMismatch, got {other:?}"),
    }
}

#[test]
fn wrong_image_size_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let imgs = fl_data::idx::encode_idx_images(2, 14, 56, &[0; 2 * 14 * 56]).unwrap();
    fs::write(tmp.path().join("t10k-images-idx3-ubyte"), imgs).unwrap();
    fs::write(
        tmp.path().join("t10k-labels-idx1-ubyte"),
        fl_data::idx::encode_idx_labels(&[1, 2]).unwrap(),
    )
    .unwrap();
    let err = Dataset::load_dir(tmp.path(), DatasetName::Mnist, Split::Test).unwrap_err();
    assert!(matches!(err, Error::DimensionMismatch(_)), "{err:?}");
}

#[test]
fn missing_file_names_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    match Dataset::load_dir(tmp.path(), DatasetName::Mnist, Split::Train) {
        Err(Error::MissingFile { path }) => {
            assert_eq!(path, tmp.path().join("train-images-idx3-ubyte.gz"))
        }
        other => panic!("expected MissingFile, got {other:?}"),
    }
}

#[test]
fn swapped_files_report_wrong_magic_with_path() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = fixture_dir();
    fs::copy(
        fx.join("train-labels-idx1-ubyte.gz"),
        tmp.path().join("train-images-idx3-ubyte.gz"),
    )
    .unwrap();
    fs::copy(
        fx.join("train-labels-idx1-ubyte.gz"),
        tmp.path().join("train-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    let err = Dataset::load_dir(tmp.path(), DatasetName::Mnist, Split::Train).unwrap_err();
    match &err {
        Error::Idx {
            path,
            source: fl_data::IdxError::BadMagic { found: 0x801, .. },
        } => {
            assert_eq!(path, &tmp.path().join("train-images-idx3-ubyte.gz"));
        }
        other => panic!("expected BadMagic, got {other:?}"),
    }
    assert!(
        err.to_string().contains("train-images-idx3-ubyte.gz"),
        "{err}"
    );
}

#[test]
fn locate_order_explicit_then_env_then_local_then_system() {
    let tmp = tempfile::tempdir().unwrap();
    let [a, b, local, system] = ["a", "b", "local", "system"].map(|d| tmp.path().join(d));
    // Each root holds a copy; each step wins only when the earlier ones are unset or empty.
    for root in [&a, &b, &local, &system] {
        copy_fixture_raw(&root.join("mnist"));
    }
    let mut loc = Locator {
        data_dir: Some(a.join("mnist")), // the data-set directory itself
        env_data_dir: Some(b.clone()),   // a parent holding mnist/
        local_root: local.clone(),
        system_root: system.clone(),
        allow_download: false,
        ..Locator::default()
    };
    assert_eq!(loc.locate(DatasetName::Mnist).unwrap(), a.join("mnist"));
    loc.data_dir = Some(tmp.path().join("empty"));
    assert_eq!(loc.locate(DatasetName::Mnist).unwrap(), b.join("mnist"));
    loc.env_data_dir = None;
    assert_eq!(loc.locate(DatasetName::Mnist).unwrap(), local.join("mnist"));
    fs::remove_file(local.join("mnist/t10k-labels-idx1-ubyte")).unwrap(); // incomplete
    assert_eq!(
        loc.locate(DatasetName::Mnist).unwrap(),
        system.join("mnist")
    );
    let ds = loc.load(DatasetName::Mnist, Split::Test).unwrap();
    assert_eq!(ds.len(), 100);
}

#[test]
fn not_found_lists_every_place_and_how_to_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let partial = tmp.path().join("partial");
    copy_fixture_raw(&partial);
    fs::remove_file(partial.join("train-images-idx3-ubyte")).unwrap();
    let loc = Locator {
        data_dir: Some(partial.clone()),
        env_data_dir: Some(tmp.path().join("env")),
        ..offline_locator()
    };
    let err = loc.locate(DatasetName::FashionMnist).unwrap_err();
    let Error::NotFound { tried, .. } = &err else {
        panic!("expected NotFound, got {err:?}")
    };
    let msg = err.to_string();
    assert_eq!(tried.len(), 7, "{msg}"); // 2 + 2 given dirs, local, system, download
    for needle in [
        format!(
            "--data-dir: {}: missing train-images-idx3-ubyte.gz",
            partial.display()
        ),
        format!(
            "FL_DATA_DIR: {}: does not exist",
            tmp.path().join("env").display()
        ),
        "/nonexistent/fl-data-test/local/fashion-mnist".to_string(),
        "/nonexistent/fl-data-test/system/fashion-mnist".to_string(),
        "disabled".to_string(),
        "apt-get install dataset-fashion-mnist".to_string(),
        "FL_DATA_DIR=".to_string(),
        "--data-dir <dir>".to_string(),
    ] {
        assert!(msg.contains(&needle), "missing {needle:?} in:\n{msg}");
    }
    // MNIST has no Debian package: the hint must not suggest one.
    let msg = offline_locator()
        .locate(DatasetName::Mnist)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("--data-dir: not set") && !msg.contains("apt-get"),
        "{msg}"
    );
}
