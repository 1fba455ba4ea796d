//! IDX file reading (the format of MNIST and Fashion-MNIST).
//!
//! An IDX file is a big-endian header — magic `0x0000_08NN` where `08` means
//! unsigned bytes and `NN` the number of dimensions, then one `u32` per
//! dimension — followed by the data. See <http://yann.lecun.com/exdb/mnist/>.
//!
//! Files may be gzip-compressed; compression is detected from the gzip magic
//! bytes `1f 8b`, never from the file name. The parsers never panic, whatever
//! the bytes, and never allocate more than the input justifies.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, IdxError};

/// Magic number of an IDX file of `u8` with 3 dimensions (images).
pub const IDX3_U8_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of `u8` with 1 dimension (labels).
pub const IDX1_U8_MAGIC: u32 = 0x0000_0801;
/// Largest valid label (the data sets here have 10 classes).
pub const MAX_LABEL: u8 = 9;
/// Cap on decompressed size. MNIST train images are 47 MB; the cap keeps a
/// small malicious gzip stream from exhausting memory.
pub const MAX_DECOMPRESSED_BYTES: u64 = 256 * 1024 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Images decoded from an `idx3` file: `count` images of `rows * cols` bytes, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count * rows * cols` pixels, image after image, row-major.
    pub pixels: Vec<u8>,
}

/// Returns `true` if `bytes` start with the gzip magic bytes.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Decompresses `bytes` if they are gzip (by magic bytes), else borrows them unchanged.
///
/// Concatenated gzip members are all read. Output is capped at
/// [`MAX_DECOMPRESSED_BYTES`].
pub fn decompress_if_gzip(bytes: &[u8]) -> Result<Cow<'_, [u8]>, IdxError> {
    if !is_gzip(bytes) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    // Read one byte past the cap to tell "exactly at the cap" from "over it".
    let mut dec = flate2::read::MultiGzDecoder::new(bytes).take(MAX_DECOMPRESSED_BYTES + 1);
    dec.read_to_end(&mut out).map_err(IdxError::Gzip)?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(IdxError::TooLarge {
            limit: MAX_DECOMPRESSED_BYTES,
        });
    }
    Ok(Cow::Owned(out))
}

/// Reads the magic and `ndims` dimensions; returns the dimensions and the data
/// after the header, checked to be exactly as long as the dimensions announce.
fn split_header<'a>(
    bytes: &'a [u8],
    magic: u32,
    kind: &'static str,
    ndims: usize,
) -> Result<(Vec<usize>, &'a [u8]), IdxError> {
    let header_len = 4 + 4 * ndims;
    let be_u32 = |i: usize| -> Option<u32> {
        let b = bytes.get(i..i + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    // Check the magic as soon as 4 bytes are there, so a wrong file is reported
    // as such rather than as truncated.
    let truncated = || IdxError::Truncated {
        expected: header_len as u64,
        actual: bytes.len() as u64,
    };
    let found = be_u32(0).ok_or_else(truncated)?;
    if found != magic {
        return Err(IdxError::BadMagic {
            expected: magic,
            found,
            kind,
        });
    }
    let mut dims = Vec::with_capacity(ndims);
    let mut payload: u64 = 1;
    for d in 0..ndims {
        let v = be_u32(4 + 4 * d).ok_or_else(truncated)?;
        dims.push(v as usize);
        // Three u32 dimensions can overflow u64 (2^96); report it instead of wrapping.
        payload = payload
            .checked_mul(u64::from(v))
            .ok_or_else(|| IdxError::Dimension(format!("dimensions {dims:?} overflow")))?;
    }
    let expected = header_len as u64 + payload;
    let actual = bytes.len() as u64;
    if actual < expected {
        return Err(IdxError::Truncated { expected, actual });
    }
    if actual > expected {
        return Err(IdxError::TrailingBytes {
            expected,
            extra: actual - expected,
        });
    }
    Ok((dims, &bytes[header_len..]))
}

/// Parses an `idx3` `u8` image file (raw or gzip bytes).
///
/// Errors: [`IdxError::BadMagic`] unless the magic is [`IDX3_U8_MAGIC`],
/// [`IdxError::Truncated`] / [`IdxError::TrailingBytes`] if the length does not
/// match the header, [`IdxError::Dimension`] for zero rows or columns,
/// [`IdxError::Gzip`] / [`IdxError::TooLarge`] for bad compressed input.
pub fn parse_idx_images(bytes: &[u8]) -> Result<IdxImages, IdxError> {
    let data = decompress_if_gzip(bytes)?;
    let (dims, pixels) = split_header(&data, IDX3_U8_MAGIC, "idx3 u8 images", 3)?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(IdxError::Dimension(format!(
            "images of {rows}x{cols} pixels"
        )));
    }
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: pixels.to_vec(),
    })
}

/// Parses an `idx1` `u8` label file (raw or gzip bytes); every label must be in `0..=9`.
///
/// Errors as for [`parse_idx_images`], plus [`IdxError::LabelOutOfRange`].
pub fn parse_idx_labels(bytes: &[u8]) -> Result<Vec<u8>, IdxError> {
    let data = decompress_if_gzip(bytes)?;
    let (_dims, labels) = split_header(&data, IDX1_U8_MAGIC, "idx1 u8 labels", 1)?;
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| **l > MAX_LABEL) {
        return Err(IdxError::LabelOutOfRange {
            index,
            label,
            max: MAX_LABEL,
        });
    }
    Ok(labels.to_vec())
}

/// Reads a whole file, mapping "not found" to [`Error::MissingFile`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::MissingFile {
                path: path.to_path_buf(),
            }
        } else {
            Error::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// Loads an `idx3` image file (gzip or raw) from disk.
pub fn load_idx_images(path: &Path) -> Result<IdxImages, Error> {
    let bytes = read_file(path)?;
    parse_idx_images(&bytes).map_err(|source| Error::Idx {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads an `idx1` label file (gzip or raw) from disk.
pub fn load_idx_labels(path: &Path) -> Result<Vec<u8>, Error> {
    let bytes = read_file(path)?;
    parse_idx_labels(&bytes).map_err(|source| Error::Idx {
        path: path.to_path_buf(),
        source,
    })
}

/// Encodes images as a raw (uncompressed) `idx3` byte stream; the inverse of
/// [`parse_idx_images`]. Useful to write fixtures and tests.
///
/// Returns [`IdxError::Dimension`] if `pixels.len() != count * rows * cols` or a
/// dimension does not fit in a `u32`.
pub fn encode_idx_images(
    count: usize,
    rows: usize,
    cols: usize,
    pixels: &[u8],
) -> Result<Vec<u8>, IdxError> {
    let to_u32 = |v: usize| {
        u32::try_from(v).map_err(|_| IdxError::Dimension(format!("{v} does not fit in u32")))
    };
    let (c, r, k) = (to_u32(count)?, to_u32(rows)?, to_u32(cols)?);
    if count.checked_mul(rows).and_then(|v| v.checked_mul(cols)) != Some(pixels.len()) {
        return Err(IdxError::Dimension(format!(
            "{} pixels for {count} images of {rows}x{cols}",
            pixels.len()
        )));
    }
    let mut out = Vec::with_capacity(16 + pixels.len());
    for v in [IDX3_U8_MAGIC, c, r, k] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    Ok(out)
}

/// Encodes labels as a raw (uncompressed) `idx1` byte stream; the inverse of
/// [`parse_idx_labels`].
pub fn encode_idx_labels(labels: &[u8]) -> Result<Vec<u8>, IdxError> {
    let n = u32::try_from(labels.len())
        .map_err(|_| IdxError::Dimension(format!("{} labels do not fit in u32", labels.len())))?;
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&IDX1_U8_MAGIC.to_be_bytes());
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(labels);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn round_trip_raw_and_gzip() {
        let pixels: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        let raw = encode_idx_images(2, 3, 4, &pixels).unwrap();
        for bytes in [raw.clone(), gzip(&raw)] {
            let img = parse_idx_images(&bytes).unwrap();
            assert_eq!((img.count, img.rows, img.cols), (2, 3, 4));
            assert_eq!(img.pixels, pixels);
        }
        let labels = encode_idx_labels(&[0, 9, 3]).unwrap();
        assert_eq!(parse_idx_labels(&gzip(&labels)).unwrap(), vec![0, 9, 3]);
    }

    #[test]
    fn wrong_magic_is_reported() {
        let labels = encode_idx_labels(&[1, 2]).unwrap();
        match parse_idx_images(&labels) {
            Err(IdxError::BadMagic {
                expected, found, ..
            }) => {
                assert_eq!((expected, found), (IDX3_U8_MAGIC, IDX1_U8_MAGIC));
            }
            other => panic!("expected BadMagic, got {other:?}"),
        }
    }

    #[test]
    fn truncated_and_trailing() {
        let raw = encode_idx_images(2, 2, 2, &[7; 8]).unwrap();
        assert!(matches!(
            parse_idx_images(&raw[..raw.len() - 1]),
            Err(IdxError::Truncated {
                expected: 24,
                actual: 23
            })
        ));
        assert!(matches!(
            parse_idx_images(&raw[..10]),
            Err(IdxError::Truncated { .. })
        ));
        assert!(matches!(
            parse_idx_images(&raw[..2]),
            Err(IdxError::Truncated { .. })
        ));
        let mut long = raw.clone();
        long.push(0);
        assert!(matches!(
            parse_idx_images(&long),
            Err(IdxError::TrailingBytes { extra: 1, .. })
        ));
    }

    #[test]
    fn huge_header_does_not_allocate() {
        // Claims 65535^3 bytes of pixels, has none: must fail before allocating.
        let mut raw = IDX3_U8_MAGIC.to_be_bytes().to_vec();
        for _ in 0..3 {
            raw.extend_from_slice(&0xffffu32.to_be_bytes());
        }
        assert!(matches!(
            parse_idx_images(&raw),
            Err(IdxError::Truncated { .. })
        ));
        // (2^32 - 1)^3 does not even fit in u64.
        raw.truncate(4);
        raw.extend_from_slice(&[0xff; 12]);
        assert!(matches!(
            parse_idx_images(&raw),
            Err(IdxError::Dimension(_))
        ));
    }

    #[test]
    fn zero_rows_rejected() {
        let raw = encode_idx_images(0, 0, 28, &[]).unwrap();
        assert!(matches!(
            parse_idx_images(&raw),
            Err(IdxError::Dimension(_))
        ));
    }

    #[test]
    fn label_out_of_range() {
        let raw = encode_idx_labels(&[1, 10, 3]).unwrap();
        assert!(matches!(
            parse_idx_labels(&raw),
            Err(IdxError::LabelOutOfRange {
                index: 1,
                label: 10,
                max: 9
            })
        ));
    }

    #[test]
    fn corrupt_gzip() {
        let mut gz = gzip(&encode_idx_labels(&[1; 100]).unwrap());
        let n = gz.len();
        gz.truncate(n - 6); // cut the CRC/size trailer and some data
        assert!(matches!(parse_idx_labels(&gz), Err(IdxError::Gzip(_))));
        let mut flipped = gzip(&encode_idx_labels(&[1; 100]).unwrap());
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        assert!(parse_idx_labels(&flipped).is_err());
    }

    #[test]
    fn gzip_bomb_capped() {
        // ~257 MiB of zeros compresses to ~250 KiB.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..257 {
            e.write_all(&chunk).unwrap();
        }
        let gz = e.finish().unwrap();
        assert!(matches!(
            decompress_if_gzip(&gz),
            Err(IdxError::TooLarge { .. })
        ));
    }

    #[test]
    fn missing_file_has_path() {
        let p = Path::new("/nonexistent/dir/train-images-idx3-ubyte.gz");
        match load_idx_images(p) {
            Err(Error::MissingFile { path }) => assert_eq!(path, p),
            other => panic!("expected MissingFile, got {other:?}"),
        }
    }
}
