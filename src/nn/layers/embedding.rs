//! `eqx.nn.Embedding`: `weight` (num_embeddings, embedding_size) initialised standard normal;
//! looks up rows by integer index.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::module::{Init, Leaf, Params, join};

/// An embedding table's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Embedding {
    /// Number of rows (e.g. classes).
    pub num_embeddings: usize,
    /// Length of each row.
    pub embedding_size: usize,
}

impl Embedding {
    /// A table of `num_embeddings` rows of length `embedding_size`.
    pub fn new(num_embeddings: usize, embedding_size: usize) -> Embedding {
        Embedding {
            num_embeddings,
            embedding_size,
        }
    }

    /// The leaf `prefix.weight`, standard normal as Equinox initialises it.
    pub fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        vec![Leaf::array(
            join(prefix, "weight"),
            DType::F32,
            vec![self.num_embeddings, self.embedding_size],
            Init::Normal { std: 1.0 },
        )]
    }

    /// Rows of the table for integer `indices` of any shape `S`, giving `S + (embedding_size,)`.
    pub fn apply(&self, p: &Params, prefix: &str, indices: &Tensor) -> Result<Tensor> {
        if !indices.dtype().is_integer() {
            return Err(Error::BadArgument(format!(
                "embedding '{prefix}': indices must be integers, got {}",
                indices.dtype()
            )));
        }
        let w = p.get(&join(prefix, "weight"))?;
        if w.dims() != [self.num_embeddings, self.embedding_size] {
            return Err(Error::BadArgument(format!(
                "'{}' has shape {:?}, expected [{}, {}]",
                join(prefix, "weight"),
                w.dims(),
                self.num_embeddings,
                self.embedding_size
            )));
        }
        w.take(indices)
    }
}
