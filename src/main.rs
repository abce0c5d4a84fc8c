//! The `sbgm-xla` binary: a thin wrapper over [`sbgm_xla::cli`].

fn main() {
    println!("sbgm-xla");
}
