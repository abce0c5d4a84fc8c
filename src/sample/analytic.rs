//! Analytic scores built as graphs (no network): Gaussian data, Gaussian mixtures and one
//! Gaussian per class. Under every SDE here the perturbed marginal of N(μ, Σ) is
//! N(α(t) μ, α(t)² Σ + std(t)² I), so the true score is known in closed form; these are the
//! references of the sampler and likelihood tests.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Graph, Tensor};
use crate::host::HostArray;
use crate::sample::score::{Cond, CondNeeds, ScoreFn, ScoreModel};
use crate::sde::{Sde, per_sample};

/// Eigen-decomposition of a symmetric matrix (cyclic Jacobi): `(values, vectors)` with the
/// eigenvectors as the columns of the row-major `d × d` matrix, `A = U diag(λ) Uᵀ`.
pub fn symmetric_eigen(a: &[f64], d: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    if a.len() != d * d {
        return Err(Error::msg(format!(
            "a {d}x{d} matrix needs {} entries, got {}",
            d * d,
            a.len()
        )));
    }
    for i in 0..d {
        for j in 0..d {
            if (a[i * d + j] - a[j * d + i]).abs() > 1e-10 * (1.0 + a[i * d + j].abs()) {
                return Err(Error::msg(format!(
                    "the covariance must be symmetric; entries ({i},{j}) and ({j},{i}) differ"
                )));
            }
        }
    }
    let mut m = a.to_vec();
    let mut u = vec![0.0; d * d];
    for i in 0..d {
        u[i * d + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * d + j].powi(2))
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = m[p * d + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (m[q * d + q] - m[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let mkp = m[k * d + p];
                    let mkq = m[k * d + q];
                    m[k * d + p] = c * mkp - s * mkq;
                    m[k * d + q] = s * mkp + c * mkq;
                }
                for k in 0..d {
                    let mpk = m[p * d + k];
                    let mqk = m[q * d + k];
                    m[p * d + k] = c * mpk - s * mqk;
                    m[q * d + k] = s * mpk + c * mqk;
                }
                for k in 0..d {
                    let ukp = u[k * d + p];
                    let ukq = u[k * d + q];
                    u[k * d + p] = c * ukp - s * ukq;
                    u[k * d + q] = s * ukp + c * ukq;
                }
            }
        }
    }
    Ok(((0..d).map(|i| m[i * d + i]).collect(), u))
}

/// One Gaussian component N(μ, Σ), kept as μ and the eigen-decomposition of Σ.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// Mean (d,).
    pub mean: Vec<f64>,
    /// Covariance (d×d, row-major).
    pub cov: Vec<f64>,
    eig: Vec<f64>,
    vecs: Vec<f64>,
}

impl Component {
    /// N(mean, cov); `cov` is row-major d×d, symmetric positive semi-definite.
    pub fn new(mean: Vec<f64>, cov: Vec<f64>) -> Result<Component> {
        let d = mean.len();
        if d == 0 {
            return Err(Error::msg("a Gaussian needs at least one dimension"));
        }
        let (eig, vecs) = symmetric_eigen(&cov, d)?;
        if let Some(l) = eig.iter().find(|&&l| l < -1e-12) {
            return Err(Error::msg(format!(
                "the covariance must be positive semi-definite; it has eigenvalue {l}"
            )));
        }
        let eig = eig.into_iter().map(|l| l.max(0.0)).collect();
        Ok(Component {
            mean,
            cov,
            eig,
            vecs,
        })
    }

    /// The dimension d.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Host log-density of the perturbed component N(α μ, α² Σ + s² I) at `x`.
    pub fn log_density_f64(&self, x: &[f64], alpha: f64, s: f64) -> f64 {
        let d = self.dim();
        let mut quad = 0.0;
        let mut logdet = 0.0;
        for k in 0..d {
            let v = alpha * alpha * self.eig[k] + s * s;
            let w: f64 = (0..d)
                .map(|i| (x[i] - alpha * self.mean[i]) * self.vecs[i * d + k])
                .sum();
            quad += w * w / v;
            logdet += v.ln();
        }
        -0.5 * quad - 0.5 * logdet - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln()
    }

    /// In the graph: `(log N(x; α μ_rows, α² Σ + s² I), score)` for x flattened `(B, d)`,
    /// α and s `(B,)`, and the means `(B, d)` or `(d,)`.
    fn trace(
        &self,
        x: &Tensor,
        mean: &Tensor,
        alpha: &Tensor,
        s: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let g = x.graph();
        let d = self.dim();
        let dt = x.dtype();
        let u = g.constant_f64(&[d, d], &self.vecs, dt)?;
        let lam = g.constant_f64(&[d], &self.eig, dt)?;
        let a = per_sample(alpha, x)?;
        let y = (x - (mean * &a)?)?;
        let w = y.matmul(&u)?; // coordinates in the eigenbasis (B, d)
        // v = α² λ + s² per sample and eigen-direction
        let v = ((a.sqr()? * &lam)? + per_sample(&s.sqr()?, x)?)?;
        let wv = (&w / &v)?;
        let quad = (&w * &wv)?.sum(&[1], false)?;
        let logdet = v.log()?.sum(&[1], false)?;
        let c = -0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
        let logn = ((quad + logdet)? * -0.5)? + c;
        let score = wv.matmul(&u.t()?)?.neg()?;
        Ok((logn?, score))
    }
}

fn flatten(x: &Tensor, d: usize) -> Result<Tensor> {
    if x.rank() == 0 || x.elem_count() / x.dims()[0] != d {
        return Err(Error::msg(format!(
            "the analytic score is {d}-dimensional, got x of shape {:?}",
            x.dims()
        )));
    }
    x.reshape(&[x.dims()[0], d])
}

/// A mixture Σₖ πₖ N(μₖ, Σₖ) of Gaussian data, with its exact score under an SDE:
/// s = Σₖ wₖ(x) sₖ with posterior weights wₖ ∝ πₖ Nₖ(x) (softmax of the log terms).
/// One component is plain Gaussian data.
#[derive(Clone, Debug)]
pub struct GaussianMixture {
    /// The SDE that perturbs the data.
    pub sde: Sde,
    /// Mixture weights (sum to 1).
    pub weights: Vec<f64>,
    /// Components.
    pub components: Vec<Component>,
    /// Element type of the traced score (and of samples drawn with it).
    pub dtype: DType,
}

impl GaussianMixture {
    /// A mixture; weights are normalised, components must share their dimension.
    pub fn new(
        sde: &Sde,
        weights: Vec<f64>,
        components: Vec<Component>,
        dtype: DType,
    ) -> Result<Self> {
        if components.is_empty() || weights.len() != components.len() {
            return Err(Error::msg(format!(
                "a mixture needs one weight per component, got {} weights and {} components",
                weights.len(),
                components.len()
            )));
        }
        let d = components[0].dim();
        if components.iter().any(|c| c.dim() != d) {
            return Err(Error::msg("mixture components must share their dimension"));
        }
        let total: f64 = weights.iter().sum();
        if weights.iter().any(|&w| w < 0.0 || !w.is_finite()) || total <= 0.0 {
            return Err(Error::msg(
                "mixture weights must be >= 0 with a positive sum",
            ));
        }
        Ok(GaussianMixture {
            sde: sde.clone(),
            weights: weights.iter().map(|w| w / total).collect(),
            components,
            dtype,
        })
    }

    /// Gaussian data N(mean, cov).
    pub fn gaussian(sde: &Sde, mean: Vec<f64>, cov: Vec<f64>, dtype: DType) -> Result<Self> {
        GaussianMixture::new(sde, vec![1.0], vec![Component::new(mean, cov)?], dtype)
    }

    /// The data dimension.
    pub fn dim(&self) -> usize {
        self.components[0].dim()
    }

    /// Host log-density of the marginal p_t at `x` (t = the SDE's time).
    pub fn log_density_f64(&self, x: &[f64], t: f64) -> f64 {
        let (a, s) = self.sde.marginal_f64(t);
        let terms: Vec<f64> = self
            .components
            .iter()
            .zip(&self.weights)
            .map(|(c, w)| w.ln() + c.log_density_f64(x, a, s))
            .collect();
        let m = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        m + terms.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
    }

    /// The mixture's mean and covariance (host).
    pub fn moments(&self) -> (Vec<f64>, Vec<f64>) {
        let d = self.dim();
        let mut mean = vec![0.0; d];
        for (c, w) in self.components.iter().zip(&self.weights) {
            for (m, cm) in mean.iter_mut().zip(&c.mean) {
                *m += w * cm;
            }
        }
        let mut cov = vec![0.0; d * d];
        for (c, w) in self.components.iter().zip(&self.weights) {
            for i in 0..d {
                for j in 0..d {
                    cov[i * d + j] +=
                        w * (c.cov[i * d + j] + (c.mean[i] - mean[i]) * (c.mean[j] - mean[j]));
                }
            }
        }
        (mean, cov)
    }
}

impl ScoreFn for GaussianMixture {
    fn score(&self, t: &Tensor, x: &Tensor, _cond: &Cond) -> Result<Tensor> {
        let d = self.dim();
        let xf = flatten(x, d)?;
        let (alpha, s) = self.sde.marginal(t)?;
        let g = x.graph();
        let mut logs = Vec::new();
        let mut scores = Vec::new();
        for (c, w) in self.components.iter().zip(&self.weights) {
            let mu = g.constant_f64(&[d], &c.mean, x.dtype())?;
            let (l, sc) = c.trace(&xf, &mu, &alpha, &s)?;
            logs.push((l + w.ln())?.unsqueeze(1)?);
            scores.push(sc.unsqueeze(1)?);
        }
        let score = if scores.len() == 1 {
            scores[0].squeeze(1)?
        } else {
            let lr: Vec<&Tensor> = logs.iter().collect();
            let l = Tensor::cat(&lr, 1)?; // (B, K)
            let post = (&l - l.logsumexp(&[1], true)?)?.exp()?.unsqueeze(2)?;
            let sr: Vec<&Tensor> = scores.iter().collect();
            (Tensor::cat(&sr, 1)? * post)?.sum(&[1], false)?
        };
        score.reshape(x.dims())
    }
}

impl ScoreModel for GaussianMixture {
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn bind<'a>(&'a self, _g: &Graph) -> Result<Box<dyn ScoreFn + 'a>> {
        Ok(Box::new(self))
    }
    fn arguments(&self) -> Vec<HostArray> {
        Vec::new()
    }
}

/// One Gaussian per class, N(μ_c, Σ), and a null-class Gaussian N(μ_∅, Σ) as the
/// unconditional model (labels not given): the analytic score for classifier-free guidance.
///
/// With a shared Σ, the guided score (1 + w) s_c − w s_∅ is exactly the score of
/// N(μ_c + w (μ_c − μ_∅), Σ) perturbed by the SDE, so guided samples have that mean.
#[derive(Clone, Debug)]
pub struct ClassGaussians {
    /// The SDE that perturbs the data.
    pub sde: Sde,
    /// Class means (K rows of d).
    pub means: Vec<Vec<f64>>,
    /// The unconditional (null) mean.
    pub null_mean: Vec<f64>,
    /// The shared covariance.
    pub cov: Component,
    /// Element type.
    pub dtype: DType,
}

impl ClassGaussians {
    /// Classes with means `means`, a shared covariance `cov` (d×d row-major) and the
    /// unconditional mean `null_mean`.
    pub fn new(
        sde: &Sde,
        means: Vec<Vec<f64>>,
        null_mean: Vec<f64>,
        cov: Vec<f64>,
        dtype: DType,
    ) -> Result<Self> {
        let d = null_mean.len();
        if means.is_empty() || means.iter().any(|m| m.len() != d) {
            return Err(Error::msg(format!(
                "every class mean must have the null mean's dimension {d}"
            )));
        }
        Ok(ClassGaussians {
            sde: sde.clone(),
            means,
            cov: Component::new(null_mean.clone(), cov)?,
            null_mean,
            dtype,
        })
    }
}

impl ScoreFn for ClassGaussians {
    fn score(&self, t: &Tensor, x: &Tensor, cond: &Cond) -> Result<Tensor> {
        let d = self.null_mean.len();
        let xf = flatten(x, d)?;
        let (alpha, s) = self.sde.marginal(t)?;
        let g = x.graph();
        let mean = match &cond.labels {
            None => g.constant_f64(&[d], &self.null_mean, x.dtype())?,
            Some(l) => {
                if l.dims() != [xf.dims()[0]] {
                    return Err(Error::msg(format!(
                        "labels must be (B,) = ({},), got {:?}",
                        xf.dims()[0],
                        l.dims()
                    )));
                }
                let k = self.means.len();
                let flat: Vec<f64> = self.means.iter().flatten().copied().collect();
                let table = g.constant_f64(&[k, d], &flat, x.dtype())?;
                table.take(&l.convert(DType::I32)?)?
            }
        };
        let (_, score) = self.cov.trace(&xf, &mean, &alpha, &s)?;
        score.reshape(x.dims())
    }
}

impl ScoreModel for ClassGaussians {
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn bind<'a>(&'a self, _g: &Graph) -> Result<Box<dyn ScoreFn + 'a>> {
        Ok(Box::new(self))
    }
    fn arguments(&self) -> Vec<HostArray> {
        Vec::new()
    }
    fn needs(&self) -> CondNeeds {
        CondNeeds {
            labels: Some(self.means.len()),
            ..CondNeeds::default()
        }
    }
}
