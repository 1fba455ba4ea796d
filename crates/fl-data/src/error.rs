//! Error types.
//!
//! [`IdxError`] covers problems found in the bytes of one IDX file and carries no
//! path, so the pure parsers can return it; [`Error`] is the crate-wide error and
//! wraps an [`IdxError`] together with the file it came from.

use std::path::PathBuf;

/// A malformed IDX byte stream (raw or gzip-compressed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdxError {
    /// The stream ends before the header or the data it announces.
    #[error("truncated IDX data: expected {expected} bytes, found {actual}")]
    Truncated {
        /// Bytes the header says the file holds (header included).
        expected: u64,
        /// Bytes actually present.
        actual: u64,
    },
    /// The first four bytes are not the expected IDX magic number.
    #[error(
        "wrong IDX magic number {found:#010x}, expected {expected:#010x} ({kind}); is this the right file?"
    )]
    BadMagic {
        /// The magic number that was expected.
        expected: u32,
        /// The magic number found.
        found: u32,
        /// What the expected magic stands for ("idx3 u8 images", "idx1 u8 labels").
        kind: &'static str,
    },
    /// The header's dimensions are unusable (zero rows/columns, or a size that overflows).
    #[error("bad IDX dimensions: {0}")]
    Dimension(String),
    /// More bytes follow the data the header announces.
    #[error("IDX data has {extra} unexpected trailing bytes after the announced {expected} bytes")]
    TrailingBytes {
        /// Bytes the header says the file holds (header included).
        expected: u64,
        /// Surplus bytes.
        extra: u64,
    },
    /// A label outside `0..=9`.
    #[error("label {label} at index {index} is out of range (labels must be 0..={max})")]
    LabelOutOfRange {
        /// Position of the offending label.
        index: usize,
        /// Its value.
        label: u8,
        /// The largest valid label.
        max: u8,
    },
    /// The data starts with the gzip magic bytes but does not decompress.
    #[error("corrupt gzip data: {0}")]
    Gzip(#[source] std::io::Error),
    /// Decompressing would exceed the size limit (guards against gzip bombs).
    #[error("gzip data decompresses to more than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
}

/// The error type of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file that should exist does not.
    #[error("file not found: {}", path.display())]
    MissingFile {
        /// The path that was tried.
        path: PathBuf,
    },
    /// Reading or writing a file failed for another reason.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An IDX file is malformed.
    #[error("{}: {source}", path.display())]
    Idx {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        #[source]
        source: IdxError,
    },
    /// Image and label files disagree on the number of examples.
    #[error("{images} images but {labels} labels")]
    CountMismatch {
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// Images have a shape other than the one the data set requires, or the
    /// pixel buffer does not match `len * rows * cols`.
    #[error("dimension mismatch: {0}")]
    DimensionMismatch(String),
    /// A label outside `0..10` given to [`crate::Dataset::new`].
    #[error("label {label} at index {index} is out of range (labels must be 0..=9)")]
    LabelOutOfRange {
        /// Position of the offending label.
        index: usize,
        /// Its value.
        label: u8,
    },
    /// An index passed to [`crate::Dataset::subset`] is out of range.
    #[error("index {index} out of range for a data set of {len} examples")]
    IndexOutOfRange {
        /// The offending index.
        index: usize,
        /// Size of the data set.
        len: usize,
    },
    /// Unknown data-set name.
    #[error("unknown data set {0:?}; expected \"mnist\" or \"fashion-mnist\"")]
    UnknownDataset(String),
    /// A downloaded file's decompressed content has the wrong SHA-256.
    #[error("checksum mismatch for {file} from {url}: expected sha256 {expected}, got {actual}")]
    Checksum {
        /// File name.
        file: String,
        /// Where it came from.
        url: String,
        /// Expected hex digest (of the decompressed content).
        expected: String,
        /// Actual hex digest.
        actual: String,
    },
    /// Fetching a file failed (curl missing, network error, timeout, HTTP error).
    #[error("download of {url} failed: {reason}")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The data set was found nowhere and could not be downloaded.
    ///
    /// The message lists every place that was tried and how to provide the files.
    #[error("{}", not_found_message(*dataset, tried, hint))]
    NotFound {
        /// The data set looked for.
        dataset: crate::DatasetName,
        /// One line per place tried, with why it did not work.
        tried: Vec<String>,
        /// How to provide the files.
        hint: String,
    },
    /// A partition specification string could not be parsed.
    #[error(
        "invalid partition {spec:?}: {reason}; expected \"iid\", \"dirichlet:<alpha>\" or \"shards:<per_client>\""
    )]
    InvalidPartitionSpec {
        /// The string given.
        spec: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Partition arguments that cannot work (0 clients, more clients than examples,
    /// `alpha <= 0`, more shards than examples, ...).
    #[error("cannot partition: {0}")]
    InvalidPartition(String),
}

fn not_found_message(dataset: crate::DatasetName, tried: &[String], hint: &str) -> String {
    let mut s = format!(
        "could not find the {} data set. Looked in:\n",
        dataset.display_name()
    );
    for t in tried {
        s.push_str("  - ");
        s.push_str(t);
        s.push('\n');
    }
    s.push_str(hint);
    s
}
