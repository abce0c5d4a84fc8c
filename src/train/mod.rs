//! Training: denoising score-matching loss, optimizers, the compiled training step and loop.
