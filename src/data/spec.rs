//! The `[data]` section of a training config: which data set, how many samples, noise,
//! scaling, held-out fraction and seed; validated, then loaded into a [`PreparedData`].

use super::augment::Augment;
use super::cifar::{CifarSplit, cifar10};
use super::dataset::Dataset;
use super::files::{self, ArrayKeys, load_arrays};
use super::idx::{MnistSplit, mnist};
use super::image_cache;
use super::images::{FlowersSplit, ImageOptions, load_flowers102, load_image_folder};
use super::scale::{Scaling, Transform};
use super::{digits, fields, toy};
use crate::error::{Error, Result};
use crate::host::HostArray;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A data set's name in a config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    /// [`toy::moons`].
    Moons,
    /// [`toy::circles`].
    Circles,
    /// [`toy::swiss_roll`].
    SwissRoll,
    /// [`toy::eight_gaussians`].
    #[serde(rename = "8gaussians", alias = "eight_gaussians")]
    EightGaussians,
    /// [`toy::checkerboard`].
    Checkerboard,
    /// The built-in 8×8 digits, [`digits::digits`].
    Digits,
    /// MNIST IDX files at `path`, [`super::idx::mnist`].
    Mnist,
    /// Arrays from the `.npy`, `.npz` or `.safetensors` file at `path`,
    /// [`super::files::load_arrays`].
    File,
    /// sbgm's field task, [`super::fields::grfs`]: x a log-normal field, q the Gaussian field
    /// from the same noise, a = (A, B) of the power spectrum `A·k^(−B)`.
    Grfs,
    /// CIFAR-10 at `path`, [`super::cifar::cifar10`]: trains on `data_batch_*`, holds out
    /// `test_batch`.
    Cifar10,
    /// An image folder at `path` (one subfolder per class), [`super::images::image_folder`],
    /// resized to `n_pix`.
    Images,
    /// Flowers102 at `path`, [`super::images::flowers102`], resized to `n_pix`: trains on the
    /// train split, holds out the val split (as sbgm).
    Flowers102,
    /// Fields from files (Quijote-style), [`super::files::load_fields`]: `path` the fields,
    /// `params` their parameter table (as a), `q_path` a second field set (as q).
    Fields,
}

impl DatasetKind {
    /// The names accepted in a config.
    pub const NAMES: [&'static str; 13] = [
        "moons",
        "circles",
        "swiss_roll",
        "8gaussians",
        "checkerboard",
        "digits",
        "mnist",
        "file",
        "grfs",
        "cifar10",
        "images",
        "flowers102",
        "fields",
    ];

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Moons => "moons",
            DatasetKind::Circles => "circles",
            DatasetKind::SwissRoll => "swiss_roll",
            DatasetKind::EightGaussians => "8gaussians",
            DatasetKind::Checkerboard => "checkerboard",
            DatasetKind::Digits => "digits",
            DatasetKind::Mnist => "mnist",
            DatasetKind::File => "file",
            DatasetKind::Grfs => "grfs",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Images => "images",
            DatasetKind::Flowers102 => "flowers102",
            DatasetKind::Fields => "fields",
        }
    }

    /// What `path` must name for the sets read from disk; `None` for the others (which refuse
    /// a `path`).
    pub fn path_hint(self) -> Option<&'static str> {
        Some(match self {
            DatasetKind::Mnist => "a directory with MNIST's IDX files, or an images IDX file",
            DatasetKind::Images => "a directory with one subfolder of PNG/JPEG files per class",
            DatasetKind::Flowers102 => {
                "torchvision's flowers-102 directory (jpg/, imagelabels.mat, setid.mat) or its parent"
            }
            DatasetKind::Fields => "a .npy of fields (N, H, W) or (N, C, H, W)",
            DatasetKind::Cifar10 => {
                "cifar-10-python.tar.gz, cifar-10-binary.tar.gz or their extracted directory"
            }
            DatasetKind::File => "a .npy, .npz or .safetensors file",
            _ => return None,
        })
    }

    /// Whether the set is generated (and so takes `n`, and `noise` where it has one).
    pub fn is_generated(self) -> bool {
        matches!(
            self,
            DatasetKind::Moons
                | DatasetKind::Circles
                | DatasetKind::SwissRoll
                | DatasetKind::EightGaussians
                | DatasetKind::Checkerboard
        )
    }

    /// The default noise standard deviation of a generated set (`None`: the set has no noise).
    pub fn default_noise(self) -> Option<f64> {
        match self {
            DatasetKind::Moons => Some(0.05), // sbgm's moons
            DatasetKind::Circles => Some(0.05),
            DatasetKind::SwissRoll => Some(0.25),
            DatasetKind::EightGaussians => Some(0.1),
            _ => None,
        }
    }
}

/// The default number of generated points (sbgm's moons draws 40,000 per split).
pub const DEFAULT_N: usize = 40_000;
/// The default held-out fraction.
pub const DEFAULT_HOLDOUT: f64 = 0.1;
/// The default grid side of generated fields (`grfs`).
pub const DEFAULT_N_PIX: usize = 32;
/// The default number of generated field pairs (sbgm's `grfs(n_fields=10_000)`).
pub const DEFAULT_N_FIELDS: usize = 10_000;
/// The default inner radius of `circles`.
pub const DEFAULT_CIRCLES_FACTOR: f64 = 0.5;

fn default_holdout() -> f64 {
    DEFAULT_HOLDOUT
}

/// The `[data]` section of a config.
///
/// ```toml
/// [data]
/// dataset = "moons"     # moons | circles | swiss_roll | 8gaussians | checkerboard | digits | mnist | file | grfs | cifar10 | images | flowers102 | fields
/// n = 40000             # generated sets: points; files: keep the first n (default: all)
/// noise = 0.05          # generated sets with noise (default per set)
/// scaling = "auto"      # auto | none | scaler | normer
/// holdout = 0.1         # held-out fraction in [0, 1)
/// seed = 0              # generation and split
/// # path = "data.npz"   # mnist (directory or images file), cifar10 (archive or directory) and file
/// # mnist_split = "train"   # or "test"
/// # factor = 0.5        # circles: inner radius
/// # [data.keys]         # file: array names (x, q, a, labels)
/// # n_pix = 32          # grfs: grid side; images, flowers102: resized side
/// # n_fields = 10000    # grfs: field pairs
/// # params = "p.csv"    # fields: parameter table (.csv or .npy), one row per field, as a
/// # q_path = "q.npy"    # fields: a second field set to condition on, as q
/// # resident = true     # .npy sets (file, fields): false memory-maps them; images, flowers102:
/// #                     # false maps their decoded u8 cache (default: mapped only when the set
/// #                     # as f32 is larger than half the free memory)
/// # augment = { crop_padding = 4, hflip = true, vflip = false }   # image training batches
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Which data set.
    pub dataset: DatasetKind,
    /// The file or directory for `mnist` and `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Generated sets: the number of points (default [`DEFAULT_N`]); others: keep the first `n`
    /// samples (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// The noise standard deviation of moons, circles, swiss roll and 8 gaussians (default:
    /// [`DatasetKind::default_noise`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
    /// The inner radius of `circles` (default [`DEFAULT_CIRCLES_FACTOR`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// How to scale the samples; fitted on the training split only.
    #[serde(default)]
    pub scaling: Scaling,
    /// The held-out fraction in `[0, 1)` (default [`DEFAULT_HOLDOUT`]); `cifar10` holds out its
    /// test split instead.
    #[serde(default = "default_holdout")]
    pub holdout: f64,
    /// Seed of the generation and of the split.
    #[serde(default)]
    pub seed: u64,
    /// `mnist`: the train or test files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mnist_split: Option<MnistSplit>,
    /// `file`: the names of the arrays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<ArrayKeys>,
    /// `grfs`: the grid side; `images`, `flowers102`: the side images are resized to (default
    /// [`DEFAULT_N_PIX`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_pix: Option<usize>,
    /// `grfs`: how many field pairs (default [`DEFAULT_N_FIELDS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_fields: Option<usize>,
    /// `fields`: the parameter table (`.csv` or `.npy`, one row per field), used as `a`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<PathBuf>,
    /// `fields`: a second field set (`.npy`), used as `q`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q_path: Option<PathBuf>,
    /// `.npy` sets (`file` with a `.npy` path, `fields`) and image sets (`images`,
    /// `flowers102`, through their decoded u8 cache, [`super::image_cache`]): `false`
    /// memory-maps the arrays, read row by row as training gathers its batches (which then
    /// uses the host feed); `true` reads them into memory. Default: mapped only when the arrays
    /// (as f32) exceed half the free memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident: Option<bool>,
    /// sbgm's augmentations of the training batches (images only; see [`Augment`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<Augment>,
}

/// A loaded data set: training and held-out splits (both scaled) and the scaling, whose
/// [`Transform::reverse`] maps samples back to data space.
#[derive(Clone, Debug)]
pub struct PreparedData {
    /// The training split, scaled.
    pub train: Dataset,
    /// The held-out split, scaled with the training split's transform.
    pub holdout: Dataset,
    /// The fitted scaling.
    pub transform: Transform,
}

impl DataSpec {
    /// A spec for `dataset` with every other key at its default.
    pub fn new(dataset: DatasetKind) -> Self {
        DataSpec {
            dataset,
            path: None,
            n: None,
            noise: None,
            factor: None,
            scaling: Scaling::Auto,
            holdout: DEFAULT_HOLDOUT,
            seed: 0,
            mnist_split: None,
            keys: None,
            n_pix: None,
            n_fields: None,
            params: None,
            q_path: None,
            resident: None,
            augment: None,
        }
    }

    /// Parses the body of a `[data]` section and validates it.
    pub fn from_toml(text: &str) -> Result<Self> {
        let spec: DataSpec = toml::from_str(text).map_err(|e| {
            Error::msg(format!(
                "[data]: {}",
                e.to_string().trim_end().replace('\n', "\n  ")
            ))
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the keys against each other, naming the offending key and what is allowed.
    pub fn validate(&self) -> Result<()> {
        let kind = self.dataset;
        let name = kind.name();
        let bad = |key: &str, m: String| Err(Error::config("data", key, m));
        if !(self.holdout.is_finite() && (0.0..1.0).contains(&self.holdout)) {
            return bad(
                "holdout",
                format!(
                    "{} must lie in [0, 1) (the held-out fraction, e.g. 0.1)",
                    self.holdout
                ),
            );
        }
        if self.n == Some(0) {
            return bad(
                "n",
                "n = 0 asks for no samples; ask for at least one".into(),
            );
        }
        self.check_path()?;
        if let Some(noise) = self.noise {
            if kind.default_noise().is_none() {
                return bad(
                    "noise",
                    format!(
                        "is not used by dataset = \"{name}\" (only by moons, circles, \
                         swiss_roll and 8gaussians); remove it"
                    ),
                );
            }
            if !(noise.is_finite() && noise >= 0.0) {
                return bad(
                    "noise",
                    format!("{noise} must be a standard deviation >= 0"),
                );
            }
        }
        if let Some(f) = self.factor {
            if kind != DatasetKind::Circles {
                return bad(
                    "factor",
                    format!("is only used by circles, not dataset = \"{name}\"; remove it"),
                );
            }
            if !(f > 0.0 && f < 1.0) {
                return bad("factor", format!("{f} must lie in (0, 1)"));
            }
        }
        if self.mnist_split.is_some() && kind != DatasetKind::Mnist {
            return bad(
                "mnist_split",
                format!("is only used with dataset = \"mnist\", not \"{name}\"; remove it"),
            );
        }
        if self.n_fields.is_some() && kind != DatasetKind::Grfs {
            return bad(
                "n_fields",
                format!("is only used with dataset = \"grfs\", not \"{name}\"; remove it"),
            );
        }
        if self.n_pix.is_some()
            && !matches!(
                kind,
                DatasetKind::Grfs | DatasetKind::Images | DatasetKind::Flowers102
            )
        {
            return bad(
                "n_pix",
                format!("is only used with grfs, images and flowers102, not \"{name}\"; remove it"),
            );
        }
        if (self.params.is_some() || self.q_path.is_some()) && kind != DatasetKind::Fields {
            let key = if self.params.is_some() {
                "params"
            } else {
                "q_path"
            };
            return bad(
                key,
                format!("is only used with dataset = \"fields\", not \"{name}\"; remove it"),
            );
        }
        self.check_resident()?;
        if self.keys.is_some() && kind != DatasetKind::File {
            return bad(
                "keys",
                format!(
                    "[data.keys] is only used with dataset = \"file\", not \"{name}\"; \
                     remove it"
                ),
            );
        }
        Ok(())
    }

    /// Checks `resident`: only the `.npy` sets and the cached image sets can be mapped.
    fn check_resident(&self) -> Result<()> {
        let npy = self
            .path
            .as_ref()
            .and_then(|p| p.extension())
            .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
        let mappable = match self.dataset {
            DatasetKind::Fields | DatasetKind::Images | DatasetKind::Flowers102 => true,
            DatasetKind::File => npy,
            _ => false,
        };
        if self.resident == Some(false) && !mappable {
            return Err(Error::config(
                "data",
                "resident",
                format!(
                    "resident = false memory-maps .npy files (dataset = \"file\" with a .npy \
                     path, or \"fields\") and the decoded image cache (\"images\", \
                     \"flowers102\"); dataset = \"{}\" is read into memory: remove it",
                    self.dataset.name()
                ),
            ));
        }
        Ok(())
    }

    /// Whether to memory-map the `.npy` at `path`: `resident = false`, or by default when its
    /// f32 values exceed half the free memory.
    fn maps(&self, path: &std::path::Path) -> Result<bool> {
        Ok(match self.resident {
            Some(r) => !r,
            None => {
                let is_npy = path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
                is_npy && files::npy_f32_bytes(path).is_ok_and(larger_than_half_free)
            }
        })
    }

    /// How `images` and `flowers102` are loaded: `n_pix`, the image cache, `resident`.
    fn image_options(&self) -> ImageOptions {
        ImageOptions {
            n_pix: self.n_pix.unwrap_or(DEFAULT_N_PIX),
            cache: image_cache::cache_dir(),
            resident: self.resident,
        }
    }

    /// Checks `path`: required by the sets read from disk, refused by the others.
    fn check_path(&self) -> Result<()> {
        let kind = self.dataset;
        let name = kind.name();
        let bad = |key: &str, m: String| Err(Error::config("data", key, m));
        match (kind.path_hint(), &self.path) {
            (Some(hint), None) => {
                return bad("path", format!("dataset = \"{name}\" needs it ({hint})"));
            }
            (None, Some(_)) => {
                return bad(
                    "path",
                    format!(
                        "is only used with the data sets read from disk (mnist, cifar10, images, \
                         flowers102, fields, file), not \"{name}\"; remove it"
                    ),
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// Builds or reads the raw data set (unscaled, unsplit).
    pub fn raw(&self) -> Result<Dataset> {
        self.validate()?;
        let n_gen = self.n.unwrap_or(DEFAULT_N);
        let noise = self.noise.or(self.dataset.default_noise()).unwrap_or(0.0);
        let seed = self.seed;
        if self.dataset.is_generated() {
            // The generator's f64 draws, the f32 set, its split and its scaled copies.
            crate::memory::Budget::new()
                .add(
                    format!("{n_gen} generated samples and their copies"),
                    crate::memory::bytes_of([n_gen, 2], 4 * 8),
                )
                .check(
                    &format!("[data] n = {n_gen}"),
                    "lower data.n (sbgm's toy sets use 10 000 to 100 000 samples)",
                )?;
        }
        let (n_pix, n_fields) = (
            self.n_pix.unwrap_or(DEFAULT_N_PIX),
            self.n_fields.unwrap_or(DEFAULT_N_FIELDS),
        );
        if self.dataset == DatasetKind::Grfs {
            // Two f32 fields per pair, generated, standardised, split and scaled.
            crate::memory::Budget::new()
                .add(
                    format!("{n_fields} pairs of {n_pix}x{n_pix} fields and their copies"),
                    crate::memory::bytes_of([n_fields, n_pix, n_pix], 2 * 4 * 4),
                )
                .check(
                    &format!("[data] n_fields = {n_fields}, n_pix = {n_pix}"),
                    "lower data.n_fields or data.n_pix (sbgm uses 10 000 fields of 32x32)",
                )?;
        }
        let ds = match self.dataset {
            DatasetKind::Moons => toy::moons(n_gen, noise, seed)?,
            DatasetKind::Circles => toy::circles(
                n_gen,
                noise,
                self.factor.unwrap_or(DEFAULT_CIRCLES_FACTOR),
                seed,
            )?,
            DatasetKind::SwissRoll => toy::swiss_roll(n_gen, noise, seed)?,
            DatasetKind::EightGaussians => toy::eight_gaussians(n_gen, noise, seed)?,
            DatasetKind::Checkerboard => toy::checkerboard(n_gen, seed)?,
            DatasetKind::Digits => digits::digits()?,
            DatasetKind::Mnist => mnist(
                self.path.as_ref().expect("validated"),
                self.mnist_split.unwrap_or_default(),
            )?,
            DatasetKind::File => {
                let path = self.path.as_ref().expect("validated");
                if self.keys.is_none() && self.maps(path)? {
                    files::map_npy(path)?
                } else {
                    load_arrays(path, &self.keys.clone().unwrap_or_default())?
                }
            }
            DatasetKind::Cifar10 => {
                cifar10(self.path.as_ref().expect("validated"), CifarSplit::Train)?
            }
            DatasetKind::Images => {
                load_image_folder(
                    self.path.as_ref().expect("validated"),
                    &self.image_options(),
                )?
                .0
            }
            DatasetKind::Flowers102 => {
                load_flowers102(
                    self.path.as_ref().expect("validated"),
                    FlowersSplit::Train,
                    &self.image_options(),
                )?
                .0
            }
            DatasetKind::Fields => {
                let path = self.path.as_ref().expect("validated");
                let (p, q) = (self.params.as_deref(), self.q_path.as_deref());
                if self.maps(path)? {
                    files::map_fields(path, p, q)?
                } else {
                    files::load_fields(path, p, q)?
                }
            }
            DatasetKind::Grfs => {
                let set = fields::grfs(n_pix, n_fields, seed)?;
                Dataset::new("grfs", set.lognormal.into_dyn())?
                    .with_q(set.gaussian.into_dyn())?
                    .with_a(set.params.into_dyn())?
            }
        };
        Ok(match self.n {
            Some(n) if !self.dataset.is_generated() => ds.take(n),
            _ => ds,
        })
    }

    /// Loads the data set, splits off the held-out fraction (shuffled by `seed`), fits the
    /// scaling on the training split and applies it to both.
    pub fn load(&self) -> Result<PreparedData> {
        let raw = self.raw()?;
        let (train, holdout) = match self.dataset {
            DatasetKind::Cifar10 => (
                raw.shuffled(self.seed),
                cifar10(self.path.as_ref().expect("validated"), CifarSplit::Test)?,
            ),
            DatasetKind::Flowers102 => (
                raw.shuffled(self.seed),
                load_flowers102(
                    self.path.as_ref().expect("validated"),
                    FlowersSplit::Val,
                    &self.image_options(),
                )?
                .0,
            ),
            _ => raw.split(self.holdout, self.seed)?,
        };
        if let Some(a) = &self.augment {
            a.check(train.data_shape())?;
        }
        let transform = self
            .scaling
            .fit_samples(train.x_samples(), train.value_range())?;
        Ok(PreparedData {
            train: train.map_x(&transform).with_augment(self.augment),
            holdout: holdout.map_x(&transform),
            transform,
        })
    }
}

/// Whether an array of `f32_bytes` (as f32) exceeds half the free memory, the default rule
/// for memory-mapping a set (false where the free memory is unknown).
pub(super) fn larger_than_half_free(f32_bytes: u64) -> bool {
    crate::memory::available_bytes().is_some_and(|free| f32_bytes > free / 2)
}

/// Which split of a prepared data set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// The training split.
    #[default]
    Train,
    /// The held-out split (CIFAR-10's `test_batch`, Flowers102's val split, else the held-out
    /// fraction).
    Test,
}

impl PreparedData {
    /// The arrays training sees for `split`, after the configured scaling: `x`, and `q`, `a`
    /// and `labels` (i32) where the set has them. Unscaled 8-bit images (`scaling = "none"`,
    /// value range `0..255`) come out as value/255, as torchvision's `ToTensor` gives them.
    pub fn arrays(&self, split: Split) -> Result<Vec<(String, HostArray)>> {
        let ds = match split {
            Split::Train => &self.train,
            Split::Test => &self.holdout,
        };
        let eight_bit =
            self.transform == Transform::Identity && ds.value_range() == Some((0.0, 255.0));
        let x = if eight_bit {
            HostArray::from_ndarray(&ds.x().mapv(|v| v / 255.0))
        } else {
            ds.x_host()
        };
        let mut out = vec![("x".to_string(), x)];
        out.extend(ds.q_host().map(|q| ("q".to_string(), q)));
        out.extend(ds.a_host().map(|a| ("a".to_string(), a)));
        out.extend(ds.labels_host().map(|l| ("labels".to_string(), l)));
        Ok(out)
    }
}
