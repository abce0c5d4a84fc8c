//! The seeded random number generator used by the data sets (portable across platforms).

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

/// The data sets' generator: xoshiro256++, whose output is fixed for a seed on every platform.
pub(crate) type DataRng = Xoshiro256PlusPlus;

/// A generator for `seed`, with `stream` separating independent uses of one seed.
pub(crate) fn data_rng(seed: u64, stream: u64) -> DataRng {
    // Mix the stream into the seed (splitmix64-style odd constant) so that streams differ.
    DataRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}
