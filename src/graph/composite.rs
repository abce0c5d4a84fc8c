//! Composite ops built on the primitives: softmax, normalisations, activations.
