//! scikit-learn's 8×8 handwritten digits (1797 images, values 0..16, labels 0..9), built in.
//!
//! The bytes were exported once by `tools/export_digits.py` from scikit-learn 1.9's bundled copy
//! of the UCI "Optical Recognition of Handwritten Digits" test set: 1797 × 64 pixel bytes,
//! row-major, then 1797 label bytes.

use super::dataset::Dataset;
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};

static DIGITS_BIN: &[u8] = include_bytes!("digits8x8.bin");

/// Number of images.
pub const N_DIGITS: usize = 1797;
/// Image side in pixels.
pub const DIGITS_SIDE: usize = 8;
/// Largest pixel value (pixels are integers in `0..=16`).
pub const DIGITS_MAX: f32 = 16.0;

/// The digits as a data set: `x` of shape `(1797, 1, 8, 8)` with raw values in `0..=16`
/// (value range recorded as `(0, 16)`), labels `0..9` (10 classes), in scikit-learn's order.
pub fn digits() -> Result<Dataset> {
    let npix = DIGITS_SIDE * DIGITS_SIDE;
    if DIGITS_BIN.len() != N_DIGITS * (npix + 1) {
        return Err(Error::msg(format!(
            "the built-in digits blob has {} bytes, expected {}; rerun tools/export_digits.py",
            DIGITS_BIN.len(),
            N_DIGITS * (npix + 1)
        )));
    }
    let (pix, lab) = DIGITS_BIN.split_at(N_DIGITS * npix);
    let x = ArrayD::from_shape_vec(
        IxDyn(&[N_DIGITS, 1, DIGITS_SIDE, DIGITS_SIDE]),
        pix.iter().map(|&v| v as f32).collect(),
    )
    .map_err(|e| Error::msg(e.to_string()))?;
    Dataset::new("digits", x)?
        .with_labels(lab.iter().map(|&l| l as i32).collect(), 10)?
        .with_value_range(0.0, DIGITS_MAX)
}
