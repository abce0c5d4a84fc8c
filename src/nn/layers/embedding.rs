//! `eqx.nn.Embedding`: `weight` (num_embeddings, embedding_size) initialised standard normal;
//! looks up rows by integer index.

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::module::Init;
use crate::nn::tree::Builder;

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

    /// Builds the field `weight`, standard normal as Equinox initialises it.
    pub fn build<B: Builder>(&self, b: &B) -> Result<EmbeddingTree<B::Leaf>> {
        Ok(EmbeddingTree {
            weight: b.array(
                "weight",
                vec![self.num_embeddings, self.embedding_size],
                Init::Normal { std: 1.0 },
            )?,
        })
    }
}

/// A built [`Embedding`]: its table.
#[derive(Clone, Debug)]
pub struct EmbeddingTree<L> {
    /// `(num_embeddings, embedding_size)`.
    pub weight: L,
}

impl EmbeddingTree<Tensor> {
    /// Rows of the table for integer `indices` of any shape `S`, giving `S + (embedding_size,)`.
    pub fn apply(&self, indices: &Tensor) -> Result<Tensor> {
        if !indices.dtype().is_integer() {
            return Err(Error::BadArgument(format!(
                "embedding: indices must be integers, got {}",
                indices.dtype()
            )));
        }
        self.weight.take(indices)
    }
}
