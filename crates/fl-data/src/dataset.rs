//! In-memory data sets: [`DatasetName`], [`Split`] and [`Dataset`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::Error;
use crate::idx::{load_idx_images, load_idx_labels};

/// Number of classes in MNIST and Fashion-MNIST.
pub const NUM_CLASSES: usize = 10;

/// The supported data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetName {
    /// MNIST handwritten digits (LeCun et al. 1998).
    Mnist,
    /// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), a drop-in replacement for MNIST.
    FashionMnist,
}

impl DatasetName {
    /// All supported data sets.
    pub const ALL: [DatasetName; 2] = [DatasetName::Mnist, DatasetName::FashionMnist];

    /// The canonical short name, also the directory name (`"mnist"`, `"fashion-mnist"`).
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
        }
    }

    /// Human-readable name for messages.
    pub fn display_name(self) -> &'static str {
        match self {
            DatasetName::Mnist => "MNIST",
            DatasetName::FashionMnist => "Fashion-MNIST",
        }
    }

    /// Per-pixel `(mean, std)` of the training set with pixels scaled to `[0, 1]`,
    /// the constants used by the PyTorch examples and torchvision users.
    pub fn normalization(self) -> (f32, f32) {
        match self {
            DatasetName::Mnist => (0.1307, 0.3081),
            DatasetName::FashionMnist => (0.2860, 0.3530),
        }
    }

    /// Image height and width (28 x 28 for both).
    pub fn image_dims(self) -> (usize, usize) {
        (28, 28)
    }

    /// Number of examples in a split (60 000 train, 10 000 test for both).
    pub fn split_len(self, split: Split) -> usize {
        match split {
            Split::Train => 60_000,
            Split::Test => 10_000,
        }
    }

    /// Class names, indexed by label.
    pub fn class_names(self) -> [&'static str; NUM_CLASSES] {
        match self {
            DatasetName::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            DatasetName::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
        }
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetName {
    type Err = Error;

    /// Accepts `mnist` and `fashion-mnist` (also `fashion_mnist`, `fashionmnist`,
    /// `fmnist`), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mnist" => Ok(DatasetName::Mnist),
            "fashion-mnist" | "fashion_mnist" | "fashionmnist" | "fmnist" => {
                Ok(DatasetName::FashionMnist)
            }
            _ => Err(Error::UnknownDataset(s.to_string())),
        }
    }
}

/// Training or test split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The 60 000-example training split (`train-*` files).
    Train,
    /// The 10 000-example test split (`t10k-*` files).
    Test,
}

impl Split {
    /// Both splits.
    pub const ALL: [Split; 2] = [Split::Train, Split::Test];

    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }

    /// Canonical gzip file name of the images, e.g. `train-images-idx3-ubyte.gz`.
    pub fn images_file(self) -> String {
        format!("{}-images-idx3-ubyte.gz", self.prefix())
    }

    /// Canonical gzip file name of the labels, e.g. `t10k-labels-idx1-ubyte.gz`.
    pub fn labels_file(self) -> String {
        format!("{}-labels-idx1-ubyte.gz", self.prefix())
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// Finds `name` (a `*.gz` canonical name) in `dir`, or its uncompressed form
/// (the name without `.gz`). Returns `None` if neither is a file.
pub fn find_file(dir: &Path, gz_name: &str) -> Option<PathBuf> {
    let gz = dir.join(gz_name);
    if gz.is_file() {
        return Some(gz);
    }
    let raw = dir.join(gz_name.strip_suffix(".gz").unwrap_or(gz_name));
    raw.is_file().then_some(raw)
}

/// A labelled image data set held in memory as raw bytes.
///
/// Invariant: `images().len() == len() * rows() * cols()` and every label is
/// below [`NUM_CLASSES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    name: DatasetName,
    images: Vec<u8>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
}

impl Dataset {
    /// Builds a data set from raw parts, checking the invariants.
    pub fn new(
        name: DatasetName,
        images: Vec<u8>,
        labels: Vec<u8>,
        rows: usize,
        cols: usize,
    ) -> Result<Self, Error> {
        let expected = labels
            .len()
            .checked_mul(rows)
            .and_then(|v| v.checked_mul(cols));
        if expected != Some(images.len()) {
            return Err(Error::DimensionMismatch(format!(
                "{} pixels for {} images of {rows}x{cols}",
                images.len(),
                labels.len()
            )));
        }
        if let Some(index) = labels.iter().position(|&l| usize::from(l) >= NUM_CLASSES) {
            return Err(Error::LabelOutOfRange {
                index,
                label: labels[index],
            });
        }
        Ok(Dataset {
            name,
            images,
            labels,
            rows,
            cols,
        })
    }

    /// Loads one split from a directory holding the canonical files (gzip or
    /// uncompressed names; the content's compression is detected from its bytes).
    ///
    /// Checks that images are `28 x 28` and that image and label counts agree.
    pub fn load_dir(dir: &Path, name: DatasetName, split: Split) -> Result<Self, Error> {
        let locate =
            |f: String| find_file(dir, &f).ok_or_else(|| Error::MissingFile { path: dir.join(f) });
        let images_path = locate(split.images_file())?;
        let labels_path = locate(split.labels_file())?;
        let images = load_idx_images(&images_path)?;
        let labels = load_idx_labels(&labels_path)?;
        let (rows, cols) = name.image_dims();
        if (images.rows, images.cols) != (rows, cols) {
            return Err(Error::DimensionMismatch(format!(
                "{}: images are {}x{}, {} needs {rows}x{cols}",
                images_path.display(),
                images.rows,
                images.cols,
                name.display_name()
            )));
        }
        if images.count != labels.len() {
            return Err(Error::CountMismatch {
                images: images.count,
                labels: labels.len(),
            });
        }
        Dataset::new(name, images.pixels, labels, rows, cols)
    }

    /// Which data set this is (decides the normalization constants).
    pub fn name(&self) -> DatasetName {
        self.name
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// `true` if there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image height.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Image width.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Pixels per image (`rows * cols`).
    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }

    /// All pixels, `len() * rows() * cols()` bytes, image after image, row-major.
    pub fn images(&self) -> &[u8] {
        &self.images
    }

    /// All labels, one per image, each in `0..10`.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The pixels of image `i`, or `None` if out of range.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let n = self.image_len();
        self.images.get(i.checked_mul(n)?..(i + 1).checked_mul(n)?)
    }

    /// Number of examples per class.
    pub fn class_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0; NUM_CLASSES];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// A new data set holding the examples at `indices`, in that order
    /// (repeats allowed). Errors with [`Error::IndexOutOfRange`] on a bad index.
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset, Error> {
        let n = self.image_len();
        let mut images = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let img = self.image(i).ok_or(Error::IndexOutOfRange {
                index: i,
                len: self.len(),
            })?;
            images.extend_from_slice(img);
            labels.push(self.labels[i]);
        }
        Ok(Dataset {
            name: self.name,
            images,
            labels,
            rows: self.rows,
            cols: self.cols,
        })
    }

    /// `f32` value of each possible pixel byte: `(x / 255 - mean) / std` with
    /// [`DatasetName::normalization`].
    pub fn normalization_table(&self) -> [f32; 256] {
        let (mean, std) = self.name.normalization();
        std::array::from_fn(|x| (x as f32 / 255.0 - mean) / std)
    }

    /// All pixels as `f32`, scaled to `[0, 1]` then standardized:
    /// `(x / 255 - mean) / std` with [`DatasetName::normalization`].
    pub fn normalized_f32(&self) -> Vec<f32> {
        // A table lookup gives exactly the per-pixel formula's values, faster.
        let table = self.normalization_table();
        self.images.iter().map(|&x| table[usize::from(x)]).collect()
    }

    /// A mini-batch: the normalized pixels (as [`Dataset::normalized_f32`]) and
    /// labels of the examples at `indices`, without normalizing the whole set.
    pub fn normalized_batch(&self, indices: &[usize]) -> Result<(Vec<f32>, Vec<u8>), Error> {
        let table = self.normalization_table();
        let mut x = Vec::with_capacity(indices.len() * self.image_len());
        let mut y = Vec::with_capacity(indices.len());
        for &i in indices {
            let img = self.image(i).ok_or(Error::IndexOutOfRange {
                index: i,
                len: self.len(),
            })?;
            x.extend(img.iter().map(|&p| table[usize::from(p)]));
            y.push(self.labels[i]);
        }
        Ok((x, y))
    }

    /// Splits into `(images, labels, rows, cols)`.
    pub fn into_parts(self) -> (Vec<u8>, Vec<u8>, usize, usize) {
        (self.images, self.labels, self.rows, self.cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        // 3 images of 2x2.
        Dataset::new(DatasetName::Mnist, (0..12).collect(), vec![0, 1, 9], 2, 2).unwrap()
    }

    #[test]
    fn names_parse_and_display() {
        for n in DatasetName::ALL {
            assert_eq!(n.as_str().parse::<DatasetName>().unwrap(), n);
        }
        assert_eq!(
            "Fashion_MNIST".parse::<DatasetName>().unwrap(),
            DatasetName::FashionMnist
        );
        assert!(matches!(
            "cifar10".parse::<DatasetName>(),
            Err(Error::UnknownDataset(_))
        ));
        assert_eq!(Split::Test.images_file(), "t10k-images-idx3-ubyte.gz");
        assert_eq!(Split::Train.labels_file(), "train-labels-idx1-ubyte.gz");
    }

    #[test]
    fn new_checks_invariants() {
        assert!(matches!(
            Dataset::new(DatasetName::Mnist, vec![0; 7], vec![0, 1], 2, 2),
            Err(Error::DimensionMismatch(_))
        ));
        assert!(Dataset::new(DatasetName::Mnist, vec![0; 4], vec![10], 2, 2).is_err());
    }

    #[test]
    fn subset_and_image() {
        let d = tiny();
        assert_eq!(d.image(2), Some(&[8, 9, 10, 11][..]));
        assert_eq!(d.image(3), None);
        let s = d.subset(&[2, 0, 2]).unwrap();
        assert_eq!(s.labels(), &[9, 0, 9]);
        assert_eq!(s.images(), &[8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11]);
        assert!(matches!(
            d.subset(&[3]),
            Err(Error::IndexOutOfRange { index: 3, len: 3 })
        ));
        assert_eq!(d.class_counts()[9], 1);
    }

    #[test]
    fn normalization_matches_formula() {
        let d = Dataset::new(
            DatasetName::FashionMnist,
            vec![0, 255, 128, 7],
            vec![3],
            2,
            2,
        )
        .unwrap();
        let x = d.normalized_f32();
        for (&p, &v) in d.images().iter().zip(&x) {
            let want = (f32::from(p) / 255.0 - 0.2860) / 0.3530;
            assert!((v - want).abs() < 1e-6, "{p}: {v} vs {want}");
        }
        assert!((x[0] + 0.2860 / 0.3530).abs() < 1e-6);
        let (bx, by) = d.normalized_batch(&[0, 0]).unwrap();
        assert_eq!((bx[4..].to_vec(), by), (x.clone(), vec![3, 3]));
        assert!(matches!(
            d.normalized_batch(&[1]),
            Err(Error::IndexOutOfRange { .. })
        ));
    }
}
