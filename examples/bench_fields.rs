//! Times sbgm's field data set (`grfs`): `cargo run --release --example bench_fields -- [N_PIX] [N_FIELDS]`
//! (default 32 and 10 000, sbgm's size).

use std::time::Instant;

fn main() -> Result<(), sbgm_xla::Error> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let n_pix = args.next().and_then(Result::ok).unwrap_or(32);
    let n_fields = args.next().and_then(Result::ok).unwrap_or(10_000);
    let t = Instant::now();
    let set = sbgm_xla::data::fields::grfs(n_pix, n_fields, 0)?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "{n_fields} pairs of {n_pix}x{n_pix} fields in {s:.2} s ({:.0} pairs/s); {} fields had latent modes clipped (deepest {:.2e})",
        n_fields as f64 / s,
        set.clipped_fields,
        set.worst_clip_depth
    );
    Ok(())
}
