//! The sampler of a training run: [`crate::sample::em::euler_maruyama`] (the reverse SDE from
//! the prior at `t1` down to `t0`) on a model's parameters, in one executable whose products
//! multiply at `train.matmul_precision`, as the training step's do. The periodic sample plots
//! and [`em_samples`] run it.

use crate::data::Dataset;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::exec::{Compiled, Target};
use crate::graph::{Graph, GraphOptions, Module, Tensor};
use crate::host::HostArray;
use crate::nn::{Params, ScoreNet};
use crate::sample::Cond;
use crate::sample::em::euler_maruyama;
use crate::sample::net::BoundNet;
use crate::sde::Sde;
use crate::train::feed;
use crate::train::setup::Setup;

/// The second word of the sampler's random key (the first is the seed).
pub(crate) const SAMPLER_KEY: u64 = 0x5A3F;

/// Builds the sampler, its products lowered as `options` say (precision, host kernel).
/// Arguments: the
/// model's array leaves `params.<leaf>`…, `key` (`u64[2]`), then `q` `(S, …)` and `a`
/// `(S, P)` when the model takes them. Result: `samples` `(S, data shape…)`. The last step
/// adds no noise.
pub fn build_em_sampler(
    net: &dyn ScoreNet,
    sde: &Sde,
    n_samples: usize,
    steps: usize,
    options: GraphOptions,
) -> Result<Module> {
    let g = Graph::with_options(options);
    let params = Params::declare(&g, &net.skeleton(), "params.")?;
    let key = g.parameter("key", &[2], DType::U64)?;
    let q = match net.q_shape() {
        Some(qs) => {
            let mut d = vec![n_samples];
            d.extend(qs);
            Some(g.parameter("q", &d, DType::F32)?)
        }
        None => None,
    };
    let a = match net.a_dim() {
        Some(p) => Some(g.parameter("a", &[n_samples, p], DType::F32)?),
        None => None,
    };
    let mut dims = vec![n_samples];
    dims.extend(net.data_shape());
    let bound = BoundNet::new(net, params);
    let cond = Cond { q, a, labels: None };
    let samples = euler_maruyama(&bound, sde, steps, &dims, DType::F32, &key, &cond)?;
    let samples: &Tensor = &samples;
    g.build("em_sampler", &[("samples", samples)])
}

/// The sampler of `setup`'s model and SDE for `n` samples in `steps` steps, its products
/// at `train.matmul_precision` (bf16 ones in the host kernel where `target` has it).
pub fn em_sampler_module(setup: &Setup, target: &Target, n: usize, steps: usize) -> Result<Module> {
    let options = target
        .with_precision(setup.config.train.matmul_precision)
        .graph_options(1);
    build_em_sampler(setup.net.as_ref(), &setup.sde, n, steps, options)
}

/// Compiles [`em_sampler_module`].
pub fn compile_em_sampler(
    setup: &Setup,
    target: &Target,
    n: usize,
    steps: usize,
) -> Result<Compiled> {
    target.compile(&em_sampler_module(setup, target, n, steps)?)
}

/// The sampler's arguments after the parameters: the key from `seed`, then the conditioning
/// of `n` samples (`q`, `a`, those the model takes): the held-out set's first rows (the
/// training set's when there is no held-out set), repeated to `n` rows.
pub fn sampler_arguments(setup: &Setup, n: usize, seed: u64) -> Result<Vec<HostArray>> {
    let src = setup.reference_rows();
    let rows: Vec<usize> = (0..n).map(|i| i % src.len()).collect();
    sampler_arguments_of(setup, &src.select(&rows)?, seed)
}

/// The sampler's arguments after the parameters: the key from `seed`, then the conditioning
/// (`q`, `a`, those the model takes) of the rows `c`, one sample per row.
pub fn sampler_arguments_of(setup: &Setup, c: &Dataset, seed: u64) -> Result<Vec<HostArray>> {
    let mut args = vec![feed::key_array([seed, SAMPLER_KEY])];
    if setup.net.q_shape().is_some() {
        args.push(c.q_host().ok_or_else(|| Error::msg("the data has no q"))?);
    }
    if setup.net.a_dim().is_some() {
        args.push(c.a_host().ok_or_else(|| Error::msg("the data has no a"))?);
    }
    Ok(args)
}

/// Draws `n` samples (in model space) with the Euler-Maruyama sampler (`steps` steps, key
/// from `seed`, products at `train.matmul_precision`) from the model with parameter arrays
/// `arrays`; conditional models take the conditioning of the held-out set's first rows.
pub fn em_samples(
    setup: &Setup,
    target: &Target,
    arrays: &[(String, HostArray)],
    n: usize,
    steps: usize,
    seed: u64,
) -> Result<ndarray::ArrayD<f32>> {
    let exe = compile_em_sampler(setup, target, n, steps)?;
    let mut args: Vec<HostArray> = arrays.iter().map(|(_, a)| a.clone()).collect();
    args.extend(sampler_arguments(setup, n, seed)?);
    let out = exe.run(&args)?;
    out[0].to_ndarray()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::MatmulPrecision;
    use crate::nn::ModelConfig;

    /// The sampler of 32 samples of a small MLP on 2-D data at `precision`, as StableHLO
    /// text (products of 32 rows are wide enough for the host kernel).
    fn sampler_text(precision: MatmulPrecision, host: Option<&'static str>) -> String {
        let model: ModelConfig =
            toml::from_str("kind = \"mlp\"\nwidth_size = 64\ndepth = 2").unwrap();
        let model = model.with_data(&[2], None, None).unwrap();
        let net = model.build().unwrap();
        let sde = crate::sde::SdeConfig::default().build().unwrap();
        let options = GraphOptions {
            matmul_precision: precision,
            host_bf16_matmul: host,
        };
        build_em_sampler(net.as_ref(), &sde, 32, 3, options)
            .unwrap()
            .text
    }

    #[test]
    fn the_sampler_multiplies_at_the_training_precision() {
        let f32_text = sampler_text(MatmulPrecision::F32, None);
        assert!(!f32_text.contains("bf16"), "{f32_text}");
        let bf16_text = sampler_text(MatmulPrecision::Bf16, None);
        assert!(
            bf16_text.contains("bf16"),
            "no bf16 products in:\n{bf16_text}"
        );
        let host = sampler_text(MatmulPrecision::Bf16, Some(crate::kernels::BF16_MATMUL));
        assert!(
            host.contains(&format!("custom_call @{}", crate::kernels::BF16_MATMUL)),
            "no host-kernel call in:\n{host}"
        );
    }

    /// The plots' sampler of a run whose config says `matmul_precision = "<precision>"`.
    fn run_sampler_text(precision: &str) -> String {
        let config = crate::train::Config::from_toml_str(
            &format!(
                "[sde]\nsde = \"VP\"\n[model]\nkind = \"mlp\"\nwidth_size = 64\ndepth = 2\n\
                 [data]\ndataset = \"moons\"\nn = 256\n[train]\nmatmul_precision = \"{precision}\"\n"
            ),
            &[] as &[&str],
        )
        .unwrap();
        let setup = Setup::new(&config).unwrap();
        // a target at the default (f32) precision: the run's config decides
        let target = Target::cpu().unwrap();
        em_sampler_module(&setup, &target, 32, 3).unwrap().text
    }

    #[test]
    fn the_runs_sample_plots_follow_train_matmul_precision() {
        let f32_text = run_sampler_text("f32");
        assert!(!f32_text.contains("bf16"), "{f32_text}");
        let bf16_text = run_sampler_text("bf16");
        assert!(
            bf16_text.contains("bf16"),
            "no bf16 products in:\n{bf16_text}"
        );
    }
}
