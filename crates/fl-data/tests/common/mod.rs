//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The committed 200 + 100 example MNIST fixture directory.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mnist")
}

/// The full MNIST directory: `FL_DATA_DIR` (the directory itself or a parent
/// holding `mnist/`), else `../shared/data/mnist` beside the repository clone.
/// Panics with instructions if neither holds the files.
pub fn full_mnist_dir() -> PathBuf {
    let mut tried = Vec::new();
    if let Some(d) = std::env::var_os("FL_DATA_DIR") {
        let d = PathBuf::from(d);
        tried.push(d.clone());
        tried.push(d.join("mnist"));
    }
    tried.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist"));
    for d in &tried {
        if fl_data::locate::missing_files(d).is_empty() {
            return d.clone();
        }
    }
    panic!(
        "full MNIST not found (looked in {tried:?}). This test needs the four MNIST \
         *-ubyte.gz files: set FL_DATA_DIR to their directory, or place them in \
         ../shared/data/mnist beside the repository clone."
    );
}

/// Gzip-compresses `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Decompresses gzip `bytes`.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}
