//! Finding a data set on disk, downloading it as a last resort.
//!
//! Look-up order for a data set `<name>` (`mnist` or `fashion-mnist`):
//!
//! 1. the explicit directory (a `--data-dir` argument), if given;
//! 2. the `FL_DATA_DIR` environment variable;
//! 3. `./data/<name>` (relative to the working directory);
//! 4. `/usr/share/datasets/<name>` (where Debian's `dataset-fashion-mnist` installs);
//! 5. a download from the mirror into `./data/<name>`, unless disabled by
//!    `FL_NO_DOWNLOAD=1` or [`Locator::allow_download`].
//!
//! For 1 and 2, both the data-set directory itself and a parent holding
//! `<name>/` are accepted. A directory counts only if it holds all four files
//! (each gzip or uncompressed). If a directory is given but incomplete, the
//! search goes on; the final error lists every place tried and why it failed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, DatasetName, Split, find_file};
use crate::download::{DownloadOptions, canonical_files, download};
use crate::error::Error;

/// Environment variable naming the data directory (the data-set directory or its parent).
pub const ENV_DATA_DIR: &str = "FL_DATA_DIR";
/// Environment variable that disables downloading when set to anything but
/// empty, `0`, `false` or `no`.
pub const ENV_NO_DOWNLOAD: &str = "FL_NO_DOWNLOAD";
/// Environment variable overriding the mirror base URL (see [`DownloadOptions::mirror`]).
pub const ENV_MIRROR: &str = "FL_DATA_MIRROR";
/// System-wide data-set root.
pub const SYSTEM_ROOT: &str = "/usr/share/datasets";

/// The canonical files missing from `dir` (a file counts if present gzip or uncompressed).
pub fn missing_files(dir: &Path) -> Vec<String> {
    canonical_files()
        .into_iter()
        .filter(|f| find_file(dir, f).is_none())
        .collect()
}

/// Where and how to look for data sets. Build it with [`Locator::from_env`]
/// in binaries; set the fields directly in tests (no environment needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locator {
    /// Explicit directory (`--data-dir`), tried first.
    pub data_dir: Option<PathBuf>,
    /// Value of `FL_DATA_DIR`, tried second.
    pub env_data_dir: Option<PathBuf>,
    /// Root holding `<name>/` and receiving downloads (`./data` by default).
    pub local_root: PathBuf,
    /// System root holding `<name>/` ([`SYSTEM_ROOT`] by default).
    pub system_root: PathBuf,
    /// Whether step 5 (download) may run.
    pub allow_download: bool,
    /// Mirror and timeout for downloads.
    pub download: DownloadOptions,
}

impl Default for Locator {
    /// No explicit directory, no environment, default roots, download allowed
    /// from the canonical mirrors.
    fn default() -> Self {
        Locator {
            data_dir: None,
            env_data_dir: None,
            local_root: PathBuf::from("data"),
            system_root: PathBuf::from(SYSTEM_ROOT),
            allow_download: true,
            download: DownloadOptions::default(),
        }
    }
}

impl Locator {
    /// A locator with `data_dir` (from `--data-dir`) and settings read from
    /// `FL_DATA_DIR`, `FL_NO_DOWNLOAD` and `FL_DATA_MIRROR`.
    pub fn from_env(data_dir: Option<PathBuf>) -> Self {
        Self::from_vars(data_dir, |k| std::env::var_os(k))
    }

    /// Like [`Locator::from_env`], reading variables through `var` (testable
    /// without touching the process environment). Empty values count as unset.
    pub fn from_vars(data_dir: Option<PathBuf>, var: impl Fn(&str) -> Option<OsString>) -> Self {
        let var = |k: &str| var(k).filter(|v| !v.is_empty());
        let no_download = var(ENV_NO_DOWNLOAD).is_some_and(|v| {
            !matches!(
                v.to_string_lossy().trim().to_ascii_lowercase().as_str(),
                "0" | "false" | "no"
            )
        });
        Locator {
            data_dir,
            env_data_dir: var(ENV_DATA_DIR).map(PathBuf::from),
            allow_download: !no_download,
            download: DownloadOptions {
                mirror: var(ENV_MIRROR).map(|v| v.to_string_lossy().into_owned()),
                ..DownloadOptions::default()
            },
            ..Locator::default()
        }
    }

    /// Returns a directory holding all four files of `name`, downloading them
    /// into `<local_root>/<name>` if found nowhere. See the module docs for the order.
    pub fn locate(&self, name: DatasetName) -> Result<PathBuf, Error> {
        let mut tried = Vec::new();
        let check = |tried: &mut Vec<String>, label: String, dir: PathBuf| -> Option<PathBuf> {
            let missing = missing_files(&dir);
            if missing.is_empty() {
                match crate::download::identify_dir(&dir) {
                    Some(other) if other != name => {
                        let sep = if label.is_empty() { "" } else { " " };
                        tried.push(format!(
                            "{label}{sep}{}: holds {} (by checksum), not {}",
                            dir.display(),
                            other.as_str(),
                            name.as_str()
                        ));
                        return None;
                    }
                    _ => return Some(dir),
                }
            }
            let why = if !dir.is_dir() {
                "does not exist".to_string()
            } else {
                format!("missing {}", missing.join(", "))
            };
            let sep = if label.is_empty() { "" } else { " " };
            tried.push(format!("{label}{sep}{}: {why}", dir.display()));
            None
        };
        let given = [
            ("--data-dir", &self.data_dir),
            (ENV_DATA_DIR, &self.env_data_dir),
        ];
        for (label, dir) in given {
            match dir {
                Some(dir) => {
                    for d in [dir.clone(), dir.join(name.as_str())] {
                        if let Some(found) = check(&mut tried, format!("{label}:"), d) {
                            return Ok(found);
                        }
                    }
                }
                None => tried.push(format!("{label}: not set")),
            }
        }
        let local = self.local_root.join(name.as_str());
        for d in [local.clone(), self.system_root.join(name.as_str())] {
            if let Some(found) = check(&mut tried, String::new(), d) {
                return Ok(found);
            }
        }
        let base = self.download.base_url(name);
        if self.allow_download {
            match download(name, &local, &self.download) {
                Ok(dir) => return Ok(dir),
                Err(e) => tried.push(format!(
                    "download from {base} into {}: {e}",
                    local.display()
                )),
            }
        } else {
            tried.push(format!("download from {base}: disabled ({ENV_NO_DOWNLOAD} is set or download was turned off)"));
        }
        Err(Error::NotFound {
            dataset: name,
            tried,
            hint: hint(name),
        })
    }

    /// Locates `name` and loads one split.
    pub fn load(&self, name: DatasetName, split: Split) -> Result<Dataset, Error> {
        let dir = self.locate(name)?;
        Dataset::load_dir(&dir, name, split)
    }
}

fn hint(name: DatasetName) -> String {
    let files = canonical_files().join(", ");
    let mut s = format!(
        "Provide the files ({files}; gzip or not) in a directory and either pass \
         --data-dir <dir>, or set {ENV_DATA_DIR}=<dir> (the directory itself or a parent \
         holding {n}/), or put them in ./data/{n}/",
        n = name.as_str()
    );
    if name == DatasetName::FashionMnist {
        s.push_str(", or run `apt-get install dataset-fashion-mnist` (installs into /usr/share/datasets/fashion-mnist)");
    }
    s.push_str(&format!(
        ". To download, unset {ENV_NO_DOWNLOAD} and make sure `curl` can reach the mirror (or set {ENV_MIRROR})."
    ));
    s
}

/// Loads one split of `name` with [`Locator::from_env`]`(data_dir)`: the
/// one-call entry point for binaries.
pub fn load(name: DatasetName, split: Split, data_dir: Option<&Path>) -> Result<Dataset, Error> {
    Locator::from_env(data_dir.map(Path::to_path_buf)).load(name, split)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Locator {
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Locator::from_vars(None, move |k| {
            vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn env_parsing() {
        let l = with(&[]);
        assert_eq!(l, Locator::default());
        for v in ["1", "yes", "true", "TRUE"] {
            assert!(!with(&[(ENV_NO_DOWNLOAD, v)]).allow_download, "{v}");
        }
        for v in ["", "0", "false", "No"] {
            assert!(with(&[(ENV_NO_DOWNLOAD, v)]).allow_download, "{v:?}");
        }
        let l = with(&[(ENV_DATA_DIR, "/d"), (ENV_MIRROR, "file:///m/{name}")]);
        assert_eq!(l.env_data_dir, Some(PathBuf::from("/d")));
        assert_eq!(l.download.base_url(DatasetName::Mnist), "file:///m/mnist/");
        assert_eq!(with(&[(ENV_DATA_DIR, "")]).env_data_dir, None);
    }
}
