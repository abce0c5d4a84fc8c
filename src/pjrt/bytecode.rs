//! The framing of MLIR bytecode, checked before a plugin parses it: the magic number, the
//! version, the producer string, and the top-level sections (each section's id, alignment and
//! length must stay inside the file; every required section is present once). The plugin's
//! reader trusts these lengths, so a truncated or length-corrupted file is refused here with a
//! message instead of reaching it. What lies inside a section (string tables, attribute and
//! operation encodings) is not checked: `sbgm-xla run` compiles a user's file in a child process
//! so that a crash there cannot take the command down (see [`crate::cli::run`]).
//!
//! Format: `mlir/docs/BytecodeFormat.md` (magic `ML\xefR`, varint version, NUL-terminated
//! producer, then `section { id_and_is_aligned: u8, length: varint, [alignment: varint,
//! padding 0xCB...], data: u8[length] }` to the end of the file).

use crate::error::{Error, Result};

/// The magic number that starts MLIR bytecode.
pub const MAGIC: &[u8; 4] = b"ML\xefR";

/// Number of section kinds the format defines (string .. properties).
const SECTION_KINDS: u8 = 9;
/// Sections every module has: string, dialect, attr/type, attr/type offsets, IR.
const REQUIRED_SECTIONS: [u8; 5] = [0, 1, 2, 3, 4];
/// The byte alignment padding is made of.
const PADDING: u8 = 0xCB;
/// The largest section alignment accepted (MLIR aligns resources to at most a page or so).
const MAX_ALIGNMENT: u64 = 1 << 16;

/// A cursor over the bytes, reading the format's primitives with bounds checks.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> std::result::Result<u8, String> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| format!("the file ends at byte {} inside a header", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    /// A prefix varint: the trailing zeros of the first byte count the bytes that follow.
    fn varint(&mut self) -> std::result::Result<u64, String> {
        let first = self.byte()?;
        let extra = if first == 0 {
            8
        } else {
            first.trailing_zeros() as usize
        };
        let mut value = [0u8; 9];
        value[0] = first;
        for slot in value.iter_mut().skip(1).take(extra) {
            *slot = self.byte()?;
        }
        Ok(if first == 0 {
            u64::from_le_bytes(value[1..9].try_into().unwrap_or_default())
        } else {
            u64::from_le_bytes(value[..8].try_into().unwrap_or_default()) >> (extra + 1)
        })
    }
}

/// Checks the framing of MLIR bytecode (see the module docs); the error says what is wrong
/// and where.
pub fn check_framing(bytes: &[u8]) -> Result<()> {
    framing(bytes).map_err(|e| {
        Error::msg(format!(
            "corrupt MLIR bytecode: {e}; the file is truncated or damaged (re-export it)"
        ))
    })
}

fn framing(bytes: &[u8]) -> std::result::Result<(), String> {
    let body = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or("it does not start with the magic number ML\\xefR")?;
    let mut r = Reader {
        bytes: body,
        pos: 0,
    };
    r.varint()?;
    let nul = body[r.pos..]
        .iter()
        .position(|&b| b == 0)
        .ok_or("the producer string is not terminated")?;
    r.pos += nul + 1;
    let mut seen = [false; SECTION_KINDS as usize];
    while r.pos < body.len() {
        let at = r.pos + MAGIC.len();
        let id_and_aligned = r.byte()?;
        let id = id_and_aligned & 0x7f;
        let length = r.varint()?;
        if id >= SECTION_KINDS {
            return Err(format!("byte {at}: unknown section id {id}"));
        }
        if std::mem::replace(&mut seen[id as usize], true) {
            return Err(format!("byte {at}: section {id} appears twice"));
        }
        if id_and_aligned & 0x80 != 0 {
            let alignment = r.varint()?;
            if !alignment.is_power_of_two() || alignment > MAX_ALIGNMENT {
                return Err(format!("byte {at}: section alignment {alignment}"));
            }
            while r.bytes.get(r.pos) == Some(&PADDING)
                && !((r.pos + MAGIC.len()) as u64).is_multiple_of(alignment)
            {
                r.pos += 1;
            }
        }
        let left = (body.len() - r.pos) as u64;
        if length > left {
            return Err(format!(
                "byte {at}: section {id} claims {length} bytes, {left} are left"
            ));
        }
        r.pos += length as usize;
    }
    match REQUIRED_SECTIONS.iter().find(|&&s| !seen[s as usize]) {
        Some(s) => Err(format!("section {s} is missing")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hlo");
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            for name in ["module.mlirbc", "module.compat.mlirbc"] {
                if let Ok(b) = std::fs::read(e.path().join(name)) {
                    out.push(b);
                }
            }
        }
        out
    }

    #[test]
    fn varints_decode_as_mlir_writes_them() {
        let read = |b: &[u8]| Reader { bytes: b, pos: 0 }.varint();
        assert_eq!(read(&[0x0b]), Ok(5));
        assert_eq!(read(&[0b10, 0x01]), Ok(64));
        assert_eq!(read(&[0, 1, 0, 0, 0, 0, 0, 0, 0]), Ok(1));
        assert!(read(&[0b100, 0x01]).is_err(), "truncated");
    }

    #[test]
    fn committed_bytecode_passes_and_truncations_fail() {
        let files = fixtures();
        if files.is_empty() {
            eprintln!("SKIPPED: hlo/ fixtures are missing");
            return;
        }
        for b in &files {
            check_framing(b).unwrap();
            for cut in [4, 5, 12, b.len() / 2, b.len() - 1] {
                assert!(check_framing(&b[..cut]).is_err(), "cut at {cut}");
            }
        }
        assert!(check_framing(b"MLIR").is_err());
    }
}
