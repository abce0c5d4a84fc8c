//! TEMPORARY stand-in.
/// Stand-in.
pub fn available() -> bool {
    false
}
