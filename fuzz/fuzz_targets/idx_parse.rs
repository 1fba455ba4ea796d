//! `fl_data::parse_idx_images`, `parse_idx_labels` and `decompress_if_gzip` on arbitrary bytes
//! (raw or gzip: a downloaded or user-supplied data set is untrusted input).
#![no_main]

use fl_data::idx::{decompress_if_gzip, encode_idx_images, encode_idx_labels, is_gzip};
use fl_data::{parse_idx_images, parse_idx_labels};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(plain) = decompress_if_gzip(data) {
        if !is_gzip(data) {
            assert_eq!(&*plain, data, "non-gzip input must pass through unchanged");
        }
    }
    if let Ok(img) = parse_idx_images(data) {
        // What parses has consistent dimensions and re-encodes to the (decompressed) input.
        assert_eq!(img.pixels.len(), img.count * img.rows * img.cols);
        let raw = encode_idx_images(img.count, img.rows, img.cols, &img.pixels).unwrap();
        assert_eq!(raw, *decompress_if_gzip(data).unwrap());
    }
    if let Ok(labels) = parse_idx_labels(data) {
        assert!(labels.iter().all(|&l| l <= 9));
        let raw = encode_idx_labels(&labels).unwrap();
        assert_eq!(raw, *decompress_if_gzip(data).unwrap());
    }
});
