//! The byte parsers never panic: truncations, bit flips and random bytes all
//! give an error or a value, and a value is always self-consistent.

mod common;

use common::{fixture_dir, gunzip};
use fl_data::{IdxError, parse_idx_images, parse_idx_labels};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_dir().join(name)).unwrap()
}

/// Parses with both parsers; checks any success is consistent.
fn parse_both(bytes: &[u8]) {
    if let Ok(img) = parse_idx_images(bytes) {
        assert_eq!(img.pixels.len(), img.count * img.rows * img.cols);
    }
    if let Ok(labels) = parse_idx_labels(bytes) {
        assert!(labels.iter().all(|&l| l <= 9));
    }
}

#[test]
fn every_truncation_of_raw_files_is_an_error() {
    for name in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        let raw = gunzip(&fixture(name));
        let is_images = name.contains("images");
        // All cuts of the header, then every 97th length of the body.
        let cuts = (0..20.min(raw.len())).chain((20..raw.len()).step_by(97));
        for cut in cuts {
            let r = if is_images {
                parse_idx_images(&raw[..cut]).map(|_| ())
            } else {
                parse_idx_labels(&raw[..cut]).map(|_| ())
            };
            assert!(
                matches!(r, Err(IdxError::Truncated { .. })),
                "{name} cut at {cut}: {r:?}"
            );
        }
    }
}

#[test]
fn every_truncation_of_gzip_files_is_an_error() {
    for name in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        let gz = fixture(name);
        for cut in (2..gz.len()).step_by(13) {
            assert!(parse_idx_images(&gz[..cut]).is_err(), "{name} cut at {cut}");
            assert!(parse_idx_labels(&gz[..cut]).is_err(), "{name} cut at {cut}");
        }
    }
}

#[test]
fn bit_flips_never_panic() {
    let gz = fixture("t10k-labels-idx1-ubyte.gz");
    let raw = gunzip(&gz);
    for data in [gz, raw] {
        for i in 0..data.len() {
            for bit in [0, 3, 7] {
                let mut d = data.clone();
                d[i] ^= 1 << bit;
                parse_both(&d);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        parse_both(&bytes);
    }

    #[test]
    fn random_bytes_after_valid_headers_never_panic(
        magic in prop_oneof![Just(0x0803u32), Just(0x0801u32)],
        dims in proptest::collection::vec(0u32..40, 3),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        gz in any::<bool>(),
    ) {
        let mut bytes = magic.to_be_bytes().to_vec();
        let ndims = if magic == 0x0803 { 3 } else { 1 };
        for d in &dims[..ndims] {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(&body);
        let bytes = if gz { common::gzip(&bytes) } else { bytes };
        parse_both(&bytes);
    }

    #[test]
    fn random_bytes_behind_gzip_magic_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = vec![0x1f, 0x8b];
        bytes.extend_from_slice(&tail);
        parse_both(&bytes);
    }
}
