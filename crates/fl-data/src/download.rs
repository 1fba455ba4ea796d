//! Downloading a data set with checksum verification.
//!
//! Files are fetched by running the `curl` binary (no HTTP library: keeps the
//! build small), so `https://`, `http://` and `file://` mirrors all work; the
//! latter makes the code testable offline. Each file's SHA-256 is checked on
//! its *decompressed* content, which stays the same when a mirror recompresses
//! the files (Debian's `dataset-fashion-mnist` does).
//!
//! Files are first fetched into a staging directory next to the destination
//! and moved into place only once all four are verified; on any error the
//! staging directory is removed, so nothing half-written is left behind.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::dataset::{DatasetName, Split, find_file};
use crate::error::Error;
use crate::idx::decompress_if_gzip;

/// Default MNIST mirror (the one torchvision uses; LeCun's site is often down).
pub const MNIST_MIRROR: &str = "https://ossci-datasets.s3.amazonaws.com/mnist/";
/// Default Fashion-MNIST mirror (Zalando Research's repository).
pub const FASHION_MNIST_MIRROR: &str =
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/";

/// SHA-256 of the decompressed MNIST files (from `SHA256SUMS.uncompressed`).
const MNIST_SHA256: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];

/// SHA-256 of the decompressed Fashion-MNIST files, computed from Debian's
/// `dataset-fashion-mnist` 0.0~git20200523.55506a9-1; they agree with the
/// digests published by independent projects for archives matching Zalando's MD5s.
const FASHION_MNIST_SHA256: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    (
        "train-labels-idx1-ubyte",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    (
        "t10k-images-idx3-ubyte",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
];

/// The default mirror for a data set.
pub fn canonical_mirror(name: DatasetName) -> &'static str {
    match name {
        DatasetName::Mnist => MNIST_MIRROR,
        DatasetName::FashionMnist => FASHION_MNIST_MIRROR,
    }
}

/// The four canonical gzip file names of a data set (train images, train
/// labels, test images, test labels).
pub fn canonical_files() -> [String; 4] {
    [
        Split::Train.images_file(),
        Split::Train.labels_file(),
        Split::Test.images_file(),
        Split::Test.labels_file(),
    ]
}

/// Expected SHA-256 (hex) of the decompressed content of `file`, given with or
/// without the `.gz` suffix; `None` for an unknown file name.
pub fn expected_sha256(name: DatasetName, file: &str) -> Option<&'static str> {
    let stem = file.strip_suffix(".gz").unwrap_or(file);
    let table = match name {
        DatasetName::Mnist => &MNIST_SHA256,
        DatasetName::FashionMnist => &FASHION_MNIST_SHA256,
    };
    table.iter().find(|(f, _)| *f == stem).map(|(_, h)| *h)
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Base URL the file names are appended to; `None` means
    /// [`canonical_mirror`]. A `{name}` in it is replaced by the data-set name
    /// (`mnist`, `fashion-mnist`), so one setting can serve both data sets.
    pub mirror: Option<String>,
    /// Limit for each file's whole transfer (curl `--max-time`).
    pub timeout: Duration,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            mirror: None,
            timeout: Duration::from_secs(600),
        }
    }
}

impl DownloadOptions {
    /// The base URL for `name`, ending with `/`.
    pub fn base_url(&self, name: DatasetName) -> String {
        let mut base = match &self.mirror {
            Some(m) => m.replace("{name}", name.as_str()),
            None => canonical_mirror(name).to_string(),
        };
        if !base.ends_with('/') {
            base.push('/');
        }
        base
    }
}

/// Removes the staging directory unless disarmed.
struct Staging(Option<PathBuf>);

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Fetches `url` into `out` with curl.
fn curl(url: &str, out: &Path, timeout: Duration) -> Result<(), Error> {
    let output = Command::new("curl")
        .args(["--fail", "--silent", "--show-error", "--location"])
        .args([
            "--proto",
            "=https,http,file",
            "--proto-redir",
            "=https,http",
        ])
        .args(["--connect-timeout", "30", "--max-time"])
        .arg(timeout.as_secs().max(1).to_string())
        .arg("--output")
        .arg(out)
        .arg(url)
        .output()
        .map_err(|e| Error::Download {
            url: url.to_string(),
            reason: if e.kind() == std::io::ErrorKind::NotFound {
                "the `curl` program is not installed (or not in PATH)".to_string()
            } else {
                format!("could not run curl: {e}")
            },
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Error::Download {
            url: url.to_string(),
            reason: format!("curl exited with {}: {}", output.status, stderr.trim()),
        });
    }
    Ok(())
}

/// Downloads the four files of `name` into `dest` (created if needed) and
/// verifies the SHA-256 of their decompressed content. Returns `dest`.
///
/// Files are stored under their canonical names (without `.gz` if the mirror
/// served them uncompressed). Existing files in `dest` with the same names are
/// replaced. On error nothing is written to `dest`.
pub fn download(name: DatasetName, dest: &Path, opts: &DownloadOptions) -> Result<PathBuf, Error> {
    let base = opts.base_url(name);
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    let leaf = dest
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let staging_dir = parent.join(format!(".{leaf}.partial-{}-{stamp}", std::process::id()));
    std::fs::create_dir(&staging_dir).map_err(io_err(&staging_dir))?;
    let _staging = Staging(Some(staging_dir.clone()));

    let mut ready = Vec::new();
    for file in canonical_files() {
        let url = format!("{base}{file}");
        let tmp = staging_dir.join(&file);
        curl(&url, &tmp, opts.timeout)?;
        let bytes = std::fs::read(&tmp).map_err(io_err(&tmp))?;
        let content = decompress_if_gzip(&bytes).map_err(|e| Error::Download {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let expected = expected_sha256(name, &file).unwrap_or_default();
        let actual = sha256_hex(&content);
        if actual != expected {
            return Err(Error::Checksum {
                file: file.clone(),
                url,
                expected: expected.to_string(),
                actual,
            });
        }
        let final_name = if crate::idx::is_gzip(&bytes) {
            file.clone()
        } else {
            file.trim_end_matches(".gz").to_string()
        };
        ready.push((tmp, final_name));
    }
    std::fs::create_dir_all(dest).map_err(io_err(dest))?;
    for (tmp, final_name) in ready {
        let target = dest.join(final_name);
        std::fs::rename(&tmp, &target).map_err(io_err(&target))?;
    }
    Ok(dest.to_path_buf())
}

/// Which known data set the files in `dir` are, judged by the SHA-256 of the smallest file
/// (`t10k-labels`, 10 kB): MNIST and Fashion-MNIST use the same file names, so a directory
/// meant for one can silently hold the other. `None` for unknown (e.g. custom) content or
/// an unreadable file; the full load reports those.
pub fn identify_dir(dir: &Path) -> Option<DatasetName> {
    let file = Split::Test.labels_file(); // the gzip name; find_file also takes the raw one
    let bytes = crate::idx::read_file(&find_file(dir, &file)?).ok()?;
    let actual = sha256_hex(&decompress_if_gzip(&bytes).ok()?);
    DatasetName::ALL
        .into_iter()
        .find(|n| expected_sha256(*n, &file) == Some(actual.as_str()))
}

/// Checks the SHA-256 of the decompressed content of all four files of `name`
/// in `dir` (gzip or uncompressed names). Reads about 55 MB for MNIST.
pub fn verify_dir(name: DatasetName, dir: &Path) -> Result<(), Error> {
    for file in canonical_files() {
        let path = find_file(dir, &file).ok_or_else(|| Error::MissingFile {
            path: dir.join(&file),
        })?;
        let bytes = crate::idx::read_file(&path)?;
        let content = decompress_if_gzip(&bytes).map_err(|source| Error::Idx {
            path: path.clone(),
            source,
        })?;
        let expected = expected_sha256(name, &file).unwrap_or_default();
        let actual = sha256_hex(&content);
        if actual != expected {
            return Err(Error::Checksum {
                file,
                url: path.display().to_string(),
                expected: expected.to_string(),
                actual,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_substitutes_and_terminates() {
        let o = DownloadOptions {
            mirror: Some("file:///m/{name}".into()),
            ..Default::default()
        };
        assert_eq!(
            o.base_url(DatasetName::FashionMnist),
            "file:///m/fashion-mnist/"
        );
        assert_eq!(
            DownloadOptions::default().base_url(DatasetName::Mnist),
            MNIST_MIRROR
        );
    }

    #[test]
    fn checksums_known_for_all_files() {
        for n in DatasetName::ALL {
            for f in canonical_files() {
                let h = expected_sha256(n, &f).unwrap();
                assert_eq!(h.len(), 64);
                assert_eq!(Some(h), expected_sha256(n, f.trim_end_matches(".gz")));
            }
        }
        assert_eq!(expected_sha256(DatasetName::Mnist, "README"), None);
    }

    #[test]
    fn sha256_of_abc() {
        // FIPS 180-2 test vector.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
