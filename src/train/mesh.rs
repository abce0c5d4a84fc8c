//! The device mesh of a training run (`[train] mesh = { data = 2, fsdp = 4 }`): the devices
//! arranged on two named axes. The batch is split over both (every device gets its own rows);
//! the parameters, optimizer moments and EMA are split along `fsdp` (fully sharded data
//! parallel) and replicated along `data`. The mesh only annotates the training program with
//! shardings ([`Mesh::state_sharding`], [`Mesh::batch_sharding`]); XLA's SPMD partitioner
//! inserts the all-gathers and reduce-scatters. Device `r · fsdp + j` holds data row `r` and
//! fsdp shard `j`. The default, every device on `data`, is plain data parallelism.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::exec::Placement;
use crate::host::HostArray;

/// The axis names a mesh may use.
pub const AXES: [&str; 2] = ["data", "fsdp"];

/// State tensors with fewer elements than this stay replicated on every device (biases,
/// norms, scalars: splitting them saves little and costs a collective each).
pub const REPLICATE_BELOW: usize = 1024;

/// A device mesh: `data × fsdp` devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, i64>", into = "BTreeMap<String, usize>")]
pub struct Mesh {
    /// Devices along the batch only (replicas of the state).
    pub data: usize,
    /// Devices the state is split over (and the batch too).
    pub fsdp: usize,
}

impl TryFrom<BTreeMap<String, i64>> for Mesh {
    type Error = String;

    fn try_from(axes: BTreeMap<String, i64>) -> std::result::Result<Mesh, String> {
        let mut mesh = Mesh { data: 1, fsdp: 1 };
        for (name, &size) in &axes {
            let slot = match name.as_str() {
                "data" => &mut mesh.data,
                "fsdp" => &mut mesh.fsdp,
                _ => {
                    return Err(format!(
                        "unknown mesh axis `{name}`; the axes are {} (e.g. mesh = {{ data = 2, \
                         fsdp = 4 }})",
                        AXES.join(", ")
                    ));
                }
            };
            *slot = usize::try_from(size)
                .ok()
                .filter(|&s| s > 0)
                .ok_or_else(|| format!("mesh axis {name} = {size}: use at least 1"))?;
        }
        Ok(mesh)
    }
}

impl From<Mesh> for BTreeMap<String, usize> {
    fn from(m: Mesh) -> Self {
        BTreeMap::from([("data".into(), m.data), ("fsdp".into(), m.fsdp)])
    }
}

impl std::fmt::Display for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{ data = {}, fsdp = {} }}", self.data, self.fsdp)
    }
}

impl Mesh {
    /// Every one of `devices` devices on `data` (plain data parallelism).
    pub fn data_parallel(devices: usize) -> Mesh {
        Mesh {
            data: devices,
            fsdp: 1,
        }
    }

    /// The number of devices (the product of the axes).
    pub fn devices(&self) -> usize {
        self.data * self.fsdp
    }

    /// The dimension a state tensor of shape `dims` is split along: its largest one divisible
    /// by the `fsdp` size (the first of equals); `None` (replicated) without an `fsdp` axis,
    /// below [`REPLICATE_BELOW`] elements, or when no dimension divides.
    pub fn shard_dim(&self, dims: &[usize]) -> Option<usize> {
        if self.fsdp == 1 || dims.iter().product::<usize>() < REPLICATE_BELOW {
            return None;
        }
        let mut best: Option<usize> = None;
        for (k, &d) in dims.iter().enumerate() {
            if d.is_multiple_of(self.fsdp) && best.is_none_or(|b| d > dims[b]) {
                best = Some(k);
            }
        }
        best
    }

    /// The `mhlo.sharding` of a state tensor of shape `dims`: split along
    /// [`Mesh::shard_dim`] over `fsdp` and replicated over `data`, or replicated.
    pub fn state_sharding(&self, dims: &[usize]) -> String {
        let Some(k) = self.shard_dim(dims) else {
            return "{replicated}".into();
        };
        let mut tiles = vec![1; dims.len()];
        tiles[k] = self.fsdp;
        // The tile of shard j (replica r) is on device r·fsdp + j.
        let devices: Vec<String> = (0..self.fsdp)
            .flat_map(|j| (0..self.data).map(move |r| (r * self.fsdp + j).to_string()))
            .collect();
        let mut shape: Vec<String> = tiles.iter().map(usize::to_string).collect();
        let replicate = if self.data > 1 {
            shape.push(self.data.to_string());
            " last_tile_dim_replicate"
        } else {
            ""
        };
        format!(
            "{{devices=[{}]{}{replicate}}}",
            shape.join(","),
            devices.join(",")
        )
    }

    /// The `mhlo.sharding` that splits dimension `dim` of a rank-`rank` array (the batch)
    /// over every device of the mesh, in device order.
    pub fn batch_sharding(&self, rank: usize, dim: usize) -> String {
        let n = self.devices();
        let mut tiles = vec!["1".to_string(); rank];
        tiles[dim] = n.to_string();
        format!("{{devices=[{}]<=[{n}]}}", tiles.join(","))
    }

    /// Device `d`'s part of the state tensor `a` that is split along `dim` (or all of it
    /// with `None`), for every device in order.
    pub fn scatter(&self, a: &HostArray, dim: Option<usize>) -> Result<Vec<HostArray>> {
        let Some(dim) = dim else {
            return Ok(vec![a.clone(); self.devices()]);
        };
        let parts = crate::train::feed::split_dim(a, dim, self.fsdp)?;
        Ok((0..self.devices())
            .map(|d| parts[d % self.fsdp].clone())
            .collect())
    }

    /// This process's parts of the state tensor `a` (split along `dim`, or whole with
    /// `None`), one per local device in `placement`'s argument order: with an `fsdp` axis
    /// that spans processes, each process uploads only the parts its devices hold.
    pub fn local_parts(
        &self,
        a: &HostArray,
        dim: Option<usize>,
        placement: &Placement,
    ) -> Result<Vec<HostArray>> {
        Ok(placement.mine(&self.scatter(a, dim)?))
    }

    /// The devices that together hold one whole copy of a tensor split along `fsdp`
    /// (devices `0..fsdp`: data row 0), in shard order.
    pub fn one_copy(&self) -> std::ops::Range<usize> {
        0..self.fsdp
    }
}

/// The whole array from its parts along `dim` (in order): the inverse of
/// [`crate::train::feed::split_dim`].
pub fn gather_dim(parts: &[HostArray], dim: usize) -> Result<HostArray> {
    let first = parts
        .first()
        .ok_or_else(|| Error::msg("no parts to gather"))?;
    let shape = first.shape();
    if dim >= shape.len()
        || parts
            .iter()
            .any(|p| p.shape() != shape || p.dtype() != first.dtype())
    {
        return Err(Error::msg(format!(
            "cannot join {} parts along dimension {dim}: they differ in shape or type, or have \
             no such dimension (first {shape:?})",
            parts.len()
        )));
    }
    let es = first.dtype().size_in_bytes();
    let outer: usize = shape[..dim].iter().product();
    let chunk = shape[dim..].iter().product::<usize>() * es;
    let mut out = Vec::with_capacity(chunk * outer * parts.len());
    for o in 0..outer {
        for p in parts {
            out.extend_from_slice(&p.bytes()[o * chunk..(o + 1) * chunk]);
        }
    }
    let mut full = shape.to_vec();
    full[dim] *= parts.len();
    HostArray::from_bytes(first.dtype(), full, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_split_along_its_largest_divisible_dimension() {
        let m = Mesh { data: 1, fsdp: 4 };
        assert_eq!(m.shard_dim(&[64, 128]), Some(1));
        assert_eq!(m.shard_dim(&[128, 66]), Some(0));
        assert_eq!(m.shard_dim(&[66, 130]), None);
        assert_eq!(m.shard_dim(&[16]), None, "small tensors are replicated");
        assert_eq!(Mesh::data_parallel(4).shard_dim(&[64, 128]), None);
        assert_eq!(m.state_sharding(&[64, 128]), "{devices=[1,4]0,1,2,3}");
        let m = Mesh { data: 2, fsdp: 2 };
        // shard 0 on devices 0 and 2, shard 1 on 1 and 3
        assert_eq!(
            m.state_sharding(&[64, 128]),
            "{devices=[1,2,2]0,2,1,3 last_tile_dim_replicate}"
        );
        assert_eq!(m.state_sharding(&[8]), "{replicated}");
        assert_eq!(m.batch_sharding(2, 1), "{devices=[1,4]<=[4]}");
    }

    #[test]
    fn scatter_then_gather_gives_the_array_back() {
        let v: Vec<f32> = (0..48).map(|i| i as f32).collect();
        let a = HostArray::from_vec(vec![4, 3, 4], v).unwrap();
        let m = Mesh { data: 2, fsdp: 2 };
        for dim in [0, 2] {
            let parts = m.scatter(&a, Some(dim)).unwrap();
            assert_eq!(parts.len(), 4);
            assert_eq!(parts[0], parts[2]);
            assert_eq!(parts[1].shape()[dim], 2);
            let back = gather_dim(&parts[m.one_copy()], dim).unwrap();
            assert_eq!(back, a);
        }
    }

    #[test]
    fn an_fsdp_axis_across_processes_gives_each_process_its_own_parts() {
        // Two processes of two devices (global ids listed out of order), fsdp = 4 over both:
        // process 0 holds shards 0 and 1, process 1 shards 2 and 3; together the whole.
        let spec = [(2, 1), (0, 0), (3, 1), (1, 0)];
        let v: Vec<f32> = (0..64 * 32).map(|i| i as f32).collect();
        let a = HostArray::from_vec(vec![64, 32], v).unwrap();
        let m = Mesh { data: 1, fsdp: 4 };
        let dim = m.shard_dim(a.shape());
        assert_eq!(dim, Some(0));
        let whole = crate::train::feed::split_dim(&a, 0, 4).unwrap();
        let mut union = Vec::new();
        for me in 0..2 {
            let all = crate::pjrt::assignment::tests::devices(&spec, me);
            let mine: Vec<_> = all.iter().filter(|d| d.addressable).cloned().collect();
            let p = Placement::of(&all, &mine, 4).unwrap();
            let parts = m.local_parts(&a, dim, &p).unwrap();
            assert_eq!(parts.len(), 2);
            for (k, part) in parts.iter().enumerate() {
                assert_eq!(part, &whole[2 * me as usize + k], "process {me}");
            }
            union.extend(parts);
            // a replicated leaf is whole on every local device
            let small = HostArray::from_vec(vec![8], vec![1f32; 8]).unwrap();
            assert_eq!(m.local_parts(&small, None, &p).unwrap(), vec![small; 2]);
        }
        assert_eq!(gather_dim(&union, 0).unwrap(), a);
        // data = 2 across the processes, fsdp = 2 within each: each process one whole copy
        let m = Mesh { data: 2, fsdp: 2 };
        for me in 0..2 {
            let all = crate::pjrt::assignment::tests::devices(&spec, me);
            let mine: Vec<_> = all.iter().filter(|d| d.addressable).cloned().collect();
            let p = Placement::of(&all, &mine, 4).unwrap();
            let parts = m.local_parts(&a, m.shard_dim(a.shape()), &p).unwrap();
            assert_eq!(gather_dim(&parts, 0).unwrap(), a, "process {me}");
        }
    }

    #[test]
    fn axes_are_checked() {
        let parse = |s: &str| toml::from_str::<BTreeMap<String, Mesh>>(&format!("m = {s}"));
        assert_eq!(
            parse("{ fsdp = 4 }").unwrap()["m"],
            Mesh { data: 1, fsdp: 4 }
        );
        let e = parse("{ model = 2 }").unwrap_err().to_string();
        assert!(e.contains("unknown mesh axis `model`"), "{e}");
        let e = parse("{ data = 0 }").unwrap_err().to_string();
        assert!(e.contains("data = 0"), "{e}");
    }
}
