//! Reading data whose size a file declares: the declared size is checked against a limit the
//! file can actually back before anything is allocated, memory is reserved fallibly and grows
//! only as bytes arrive, and a stream may not run past what its header declares.

use crate::error::{Error, Result};
use std::io::Read;

/// The most bytes a deflate (zip, gzip) stream can expand to per compressed byte (1032:1 is
/// deflate's limit; a little more leaves room for the stream's framing).
pub const DEFLATE_MAX_RATIO: u64 = 1040;

/// The first reservation while data arrives; the buffer then doubles as it fills.
const FIRST_STEP: usize = 1 << 20;

/// The most bytes `compressed` bytes of deflate data can expand to (plus `slack`).
pub fn deflate_limit(compressed: u64, slack: u64) -> u64 {
    compressed
        .saturating_mul(DEFLATE_MAX_RATIO)
        .saturating_add(slack)
}

/// Checks a declared size against the most the file can hold: an error naming `what`, the
/// declared size, the limit and `why` the limit holds.
pub fn check_declared(what: &str, declared: u64, limit: u64, why: &str) -> Result<()> {
    if declared > limit {
        return Err(Error::msg(format!(
            "{what} declares {declared} bytes, more than the {limit} bytes {why} (a corrupt or \
             forged header)"
        )));
    }
    Ok(())
}

/// Reads up to `n` bytes from `r` into a new buffer, reserving memory fallibly and in steps as
/// data arrives (at most twice what arrived, so a header that overstates `n` costs no memory). The result is shorter than `n`
/// only when `r` ends first; callers report that as truncation.
pub fn read_up_to(r: &mut impl Read, n: usize, what: &str) -> Result<Vec<u8>> {
    let mut data: Vec<u8> = Vec::new();
    let mut chunk = r.take(n as u64);
    loop {
        let want = (n - data.len()).min(FIRST_STEP.max(data.len()));
        if want == 0 {
            return Ok(data);
        }
        data.try_reserve_exact(want).map_err(|_| {
            Error::msg(format!(
                "cannot allocate {} bytes for {what} (declared {n} bytes): out of memory",
                data.len() + want
            ))
        })?;
        let before = data.len();
        (&mut chunk)
            .take(want as u64)
            .read_to_end(&mut data)
            .map_err(|e| Error::msg(format!("cannot read {what}: {e}")))?;
        if data.len() - before < want {
            return Ok(data);
        }
    }
}

/// Whether `r` has any byte left (reads at most one).
pub fn has_more(r: &mut impl Read) -> std::io::Result<bool> {
    let mut probe = [0u8; 1];
    loop {
        match r.read(&mut probe) {
            Ok(n) => return Ok(n > 0),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_arrives_up_to_the_declared_size() {
        let src = [7u8; 100];
        assert_eq!(read_up_to(&mut &src[..], 40, "x").unwrap(), vec![7u8; 40]);
        // A header claiming far more than arrives allocates only what arrives.
        let got = read_up_to(&mut &src[..], usize::MAX / 2, "x").unwrap();
        assert_eq!(got.len(), 100);
        assert!(got.capacity() <= 1 << 20);
        let e = check_declared("member 'a'", 10, 5, "its archive can hold").unwrap_err();
        assert!(
            e.to_string().contains("declares 10 bytes, more than the 5"),
            "{e}"
        );
        assert_eq!(deflate_limit(u64::MAX, 1), u64::MAX);
    }
}
