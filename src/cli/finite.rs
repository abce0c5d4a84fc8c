//! Warnings about non-finite numbers (NaN, ±inf) in a model's parameters, a command's inputs
//! and its results. A NaN weight or input makes every result NaN without any error from XLA;
//! the commands still run and exit 0, but say on stderr where the first non-finite value is.

use crate::dtype::DType;
use crate::host::HostArray;

/// The first non-finite element of `a`: its flat index and value (integer arrays have none).
pub fn first_non_finite(a: &HostArray) -> Option<(usize, f64)> {
    let b = a.bytes();
    let find = |w: usize, f: &dyn Fn(&[u8]) -> f64| {
        b.chunks_exact(w)
            .map(f)
            .enumerate()
            .find(|(_, v)| !v.is_finite())
    };
    match a.dtype() {
        DType::F16 => find(2, &|s| half::f16::from_le_bytes([s[0], s[1]]).to_f64()),
        DType::BF16 => find(2, &|s| half::bf16::from_le_bytes([s[0], s[1]]).to_f64()),
        DType::F32 => find(4, &|s| {
            f64::from(f32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        }),
        DType::F64 => find(8, &|s| {
            f64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
        }),
        _ => None,
    }
}

/// The first non-finite element of `a` and where it is (`NaN at index [i, j]`; a scalar's
/// value alone), if there is one.
pub fn non_finite_at(a: &HostArray) -> Option<String> {
    let (flat, v) = first_non_finite(a)?;
    if a.shape().is_empty() {
        return Some(v.to_string());
    }
    let mut index = vec![0; a.shape().len()];
    let mut rest = flat;
    for (i, &n) in a.shape().iter().enumerate().rev() {
        index[i] = rest % n.max(1);
        rest /= n.max(1);
    }
    Some(format!("{v} at index {index:?}"))
}

/// Warns on stderr when a leaf of the model is not finite, naming the first such leaf and
/// element.
pub fn warn_leaves(leaves: &[(String, HostArray)], file: &std::path::Path) {
    if let Some((path, at)) = leaves
        .iter()
        .find_map(|(path, a)| non_finite_at(a).map(|at| (path, at)))
    {
        eprintln!(
            "warning: the model's parameters are not all finite: leaf `{path}` of {} holds \
             {at}; the results will not be finite either",
            file.display()
        );
    }
}

/// Warns on stderr when the input `what` (e.g. `--x x.npy`) holds a non-finite value.
pub fn warn_input(what: &str, a: &HostArray) {
    if let Some(at) = non_finite_at(a) {
        eprintln!("warning: the input {what} holds {at}; the results will not be finite either");
    }
}

/// Warns on stderr when the results `what` (e.g. `the samples in s.npy`) hold a non-finite
/// value.
pub fn warn_output(what: &str, a: &HostArray) {
    if let Some(at) = non_finite_at(a) {
        eprintln!("warning: {what} are not all finite: {at}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_non_finite_element_with_its_index() {
        let a = HostArray::from_vec(vec![2, 3], vec![0f32, 1., 2., 3., f32::NAN, f32::INFINITY])
            .unwrap();
        assert_eq!(first_non_finite(&a).map(|(i, _)| i), Some(4));
        assert_eq!(non_finite_at(&a).as_deref(), Some("NaN at index [1, 1]"));
        let b = HostArray::from_vec(vec![2], vec![1f64, f64::NEG_INFINITY]).unwrap();
        assert_eq!(non_finite_at(&b).as_deref(), Some("-inf at index [1]"));
        let ok = HostArray::from_vec(vec![3], vec![1i32, 2, 3]).unwrap();
        assert_eq!(first_non_finite(&ok), None);
        let s = HostArray::scalar(f64::NAN);
        assert_eq!(non_finite_at(&s).as_deref(), Some("NaN"));
    }
}
