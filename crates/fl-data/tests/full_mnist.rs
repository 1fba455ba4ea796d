//! Checks on the real, full MNIST (from FL_DATA_DIR or ../shared/data/mnist).

mod common;

use common::{fixture_dir, full_mnist_dir};
use fl_data::{Dataset, DatasetName, Partition, Split, partition, verify_dir};

#[test]
fn full_mnist_counts_and_class_counts() {
    let dir = full_mnist_dir();
    let train = Dataset::load_dir(&dir, DatasetName::Mnist, Split::Train).unwrap();
    let test = Dataset::load_dir(&dir, DatasetName::Mnist, Split::Test).unwrap();
    assert_eq!(train.len(), 60_000);
    assert_eq!(test.len(), 10_000);
    assert_eq!(
        train.class_counts(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        test.class_counts(),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );

    // The normalization constants are the training set's pixel mean and std.
    let x = train.normalized_f32();
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = x
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!(mean.abs() < 1e-3, "normalized mean {mean}");
    assert!(
        (var.sqrt() - 1.0).abs() < 1e-3,
        "normalized std {}",
        var.sqrt()
    );

    // McMahan et al.: 100 clients x 2 shards of 300 -> 600 examples each. Class
    // sizes are not multiples of 300, so at most 9 shards (one per class
    // boundary) hold two labels: every client has <= 4 labels, >= 91 have <= 2.
    let parts = partition(train.labels(), 100, &Partition::Shards { per_client: 2 }, 0).unwrap();
    let mut at_most_two = 0;
    for p in &parts {
        assert_eq!(p.len(), 600);
        let mut seen = [false; 10];
        p.iter()
            .for_each(|&i| seen[usize::from(train.labels()[i])] = true);
        let labels = seen.iter().filter(|&&s| s).count();
        assert!(labels <= 4, "{labels} labels");
        at_most_two += usize::from(labels <= 2);
    }
    assert!(at_most_two >= 91, "{at_most_two} clients with <= 2 labels");
}

#[test]
fn full_mnist_checksums() {
    verify_dir(DatasetName::Mnist, &full_mnist_dir()).unwrap();
}

#[test]
fn fixture_is_a_prefix_of_full_mnist() {
    let full = full_mnist_dir();
    for (split, n) in [(Split::Train, 200), (Split::Test, 100)] {
        let a = Dataset::load_dir(&full, DatasetName::Mnist, split).unwrap();
        let b = Dataset::load_dir(&fixture_dir(), DatasetName::Mnist, split).unwrap();
        let prefix: Vec<usize> = (0..n).collect();
        assert_eq!(a.subset(&prefix).unwrap(), b);
    }
}

#[test]
fn fashion_mnist_from_debian_package_if_installed() {
    // Only where `apt-get install dataset-fashion-mnist` was run; CI does not need it.
    let dir = std::path::Path::new("/usr/share/datasets/fashion-mnist");
    if !fl_data::locate::missing_files(dir).is_empty() {
        eprintln!("skipping: {} not installed", dir.display());
        return;
    }
    verify_dir(DatasetName::FashionMnist, dir).unwrap();
    let train = Dataset::load_dir(dir, DatasetName::FashionMnist, Split::Train).unwrap();
    // Fashion-MNIST is exactly balanced: 6000 per class.
    assert_eq!(train.class_counts(), [6000; 10]);
}

/// MNIST and Fashion-MNIST share file names: a directory holding MNIST must not be taken
/// for Fashion-MNIST (it was, when FL_DATA_DIR pointed at the MNIST directory).
#[test]
fn a_mnist_directory_is_not_taken_for_fashion_mnist() {
    let mnist = full_mnist_dir();
    assert_eq!(fl_data::identify_dir(&mnist), Some(DatasetName::Mnist));
    let empty = tempfile::tempdir().unwrap();
    let loc = fl_data::Locator {
        data_dir: Some(mnist.clone()),
        env_data_dir: Some(mnist.clone()),
        local_root: empty.path().join("data"),
        system_root: empty.path().join("system"),
        allow_download: false,
        ..fl_data::Locator::default()
    };
    assert_eq!(loc.locate(DatasetName::Mnist).unwrap(), mnist);
    let err = loc
        .locate(DatasetName::FashionMnist)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("holds mnist (by checksum), not fashion-mnist"),
        "{err}"
    );
}
