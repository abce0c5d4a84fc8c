//! sbgm's image augmentations of the training split (torchvision's `RandomCrop(n_pix,
//! padding, padding_mode='reflect')`, `RandomHorizontalFlip()`, `RandomVerticalFlip()`),
//! drawn from `(seed, step, row position)` so that a batch is the same on every run, resume
//! and process.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The `[data] augment` table: `augment = { crop_padding = 4, hflip = true, vflip = false }`.
///
/// Applied to the samples `x` (rows `(C, H, W)`) of each training batch, in sbgm's order:
/// pad each side by `crop_padding` pixels with reflection (NumPy's `mode='reflect'`: the edge
/// is not repeated) and crop `H × W` at a uniformly drawn offset, then flip left-right and
/// top-bottom, each with probability 1/2. `q`, `a` and the held-out split are left as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augment {
    /// Reflect padding of the random crop (0: no crop).
    #[serde(default)]
    pub crop_padding: usize,
    /// Random horizontal (left-right) flips.
    #[serde(default)]
    pub hflip: bool,
    /// Random vertical (top-bottom) flips.
    #[serde(default)]
    pub vflip: bool,
}

/// One row's random choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AugmentDraw {
    /// Row offset of the crop in the padded image, `0..=2·crop_padding`.
    pub top: usize,
    /// Column offset of the crop in the padded image, `0..=2·crop_padding`.
    pub left: usize,
    /// Flip left-right.
    pub hflip: bool,
    /// Flip top-bottom.
    pub vflip: bool,
}

impl Augment {
    /// Whether it changes nothing.
    pub fn is_identity(&self) -> bool {
        self.crop_padding == 0 && !self.hflip && !self.vflip
    }

    /// Checks it against the shape of one sample: images `(C, H, W)` with `crop_padding`
    /// smaller than `H` and `W` (reflection needs that many pixels).
    pub fn check(&self, row_shape: &[usize]) -> Result<()> {
        let [_, h, w] = row_shape else {
            return Err(Error::config(
                "data",
                "augment",
                format!(
                    "augments images (samples of shape (C, H, W)), but the samples have shape \
                     {row_shape:?}; remove augment"
                ),
            ));
        };
        if self.crop_padding >= *h.min(w) {
            return Err(Error::config(
                "data",
                "augment",
                format!(
                    "crop_padding = {} must be smaller than the images' height and width \
                     ({h}x{w}) for reflect padding; lower it (sbgm uses 4)",
                    self.crop_padding
                ),
            ));
        }
        Ok(())
    }

    /// The choices for the row at position `pos` of training step `step`'s global batch,
    /// fixed by `(seed, step, pos)`.
    pub fn draw(&self, seed: u64, step: u64, pos: usize) -> AugmentDraw {
        let mix = seed.wrapping_mul(0xA076_1D64_78BD_642F)
            ^ step.wrapping_mul(0xE703_7ED1_A0B4_28DB).rotate_left(17)
            ^ (pos as u64).wrapping_mul(0x8EBC_6AF0_9C88_C6E3)
            ^ 0x6175_676d_656e_7421; // "augment!"
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix);
        let span = 2 * self.crop_padding + 1;
        let top = rng.random_range(0..span);
        let left = rng.random_range(0..span);
        let (hflip, vflip) = (rng.random::<bool>(), rng.random::<bool>());
        AugmentDraw {
            top,
            left,
            hflip: hflip && self.hflip,
            vflip: vflip && self.vflip,
        }
    }

    /// Writes the augmented image `src` (`(C, H, W)` values, see [`Augment::check`]) into
    /// `out` (same size).
    pub fn apply(&self, d: AugmentDraw, shape: [usize; 3], src: &[f32], out: &mut [f32]) {
        let [c, h, w] = shape;
        let p = self.crop_padding as isize;
        let cols: Vec<usize> = (0..w)
            .map(|x| {
                let x = if d.hflip { w - 1 - x } else { x };
                reflect(x as isize + d.left as isize - p, w)
            })
            .collect();
        for ch in 0..c {
            let plane = &src[ch * h * w..(ch + 1) * h * w];
            for y in 0..h {
                let yy = if d.vflip { h - 1 - y } else { y };
                let row = &plane[reflect(yy as isize + d.top as isize - p, h) * w..][..w];
                let o = &mut out[(ch * h + y) * w..][..w];
                for (o, &x) in o.iter_mut().zip(&cols) {
                    *o = row[x];
                }
            }
        }
    }
}

/// Index `i` of a padded axis of length `n` mapped back into `0..n` by reflection about the
/// edges (without repeating them); `|i|` and `i − n` stay below `n`.
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let i = if i < 0 { -i } else { i };
    (if i >= n { 2 * (n - 1) - i } else { i }) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_skips_the_edge() {
        let got: Vec<usize> = (-2..6).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, vec![2, 1, 0, 1, 2, 3, 2, 1]);
    }
}
