//! MNIST and Fashion-MNIST for federated learning: IDX reading, finding (or
//! downloading) the files, and splitting examples across clients.
//!
//! - [`idx`]: a panic-free reader for IDX files, raw or gzip (detected from
//!   the bytes): [`parse_idx_images`] / [`parse_idx_labels`] on bytes,
//!   [`load_idx_images`] / [`load_idx_labels`] on files.
//! - [`Dataset`]: images as raw `u8` plus labels, with [`Dataset::subset`]
//!   and [`Dataset::normalized_f32`] (the usual per-data-set mean/std).
//! - [`Locator`]: finds a data set (`--data-dir`, `FL_DATA_DIR`,
//!   `./data/<name>`, `/usr/share/datasets/<name>`) or downloads it with
//!   `curl`, checking SHA-256 sums; see [`locate`] for the rules.
//! - [`partition()`]: IID, Dirichlet label skew and McMahan shards, seeded.
//!
//! Only [`Locator`], [`download()`], [`verify_dir`], [`Dataset::load_dir`]
//! and the `load*` functions touch the file system (or run `curl`); the rest
//! is pure.
//!
//! # Example
//!
//! ```no_run
//! use fl_data::{DatasetName, Locator, Partition, Split, partition};
//!
//! # fn main() -> Result<(), fl_data::Error> {
//! let name: DatasetName = "mnist".parse()?;
//! // `None`: no --data-dir given; FL_DATA_DIR etc. are read from the environment.
//! let train = Locator::from_env(None).load(name, Split::Train)?;
//! assert_eq!(train.len(), 60_000);
//!
//! let scheme: Partition = "dirichlet:0.5".parse()?;
//! let clients = partition(train.labels(), 10, &scheme, 42)?;
//! let client0 = train.subset(&clients[0])?;
//! let x: Vec<f32> = client0.normalized_f32(); // len() * 28 * 28 values
//! # let _ = x;
//! # Ok(())
//! # }
//! ```

pub mod dataset;
pub mod download;
pub mod error;
pub mod idx;
pub mod locate;
pub mod partition;

pub use dataset::{Dataset, DatasetName, NUM_CLASSES, Split};
pub use download::{DownloadOptions, download, identify_dir, verify_dir};
pub use error::{Error, IdxError};
pub use idx::{IdxImages, load_idx_images, load_idx_labels, parse_idx_images, parse_idx_labels};
pub use locate::{Locator, load};
pub use partition::{Partition, partition};
