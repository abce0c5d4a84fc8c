"""powerbox 1.0's Gaussian and log-normal field definitions, for sbgm's field task (`sbgm.data.grfs`:
P(k) = A k^-B on a box of side 1, (A, B) ~ U(1, 3)^2).

Writes tests/fixtures/fields/powerbox.json with, for a few (A, B) and grid sides N:
  variance                      xi(0) = sum of P over the grid (PowerBox.variance)
  gaussian_variance             ln(1 + xi(0)) (LogNormalPowerBox.gaussian_variance)
  modes: [kx/2pi, ky/2pi, P, P_G]  every mode of the reduced (rfft) spectrum: the input power
                                and the latent Gaussian power before clipping
                                (LogNormalPowerBox._unclipped_gaussian_power_array)
  corr_mean, corr_sd            the mean and spread over 64 seeds of the pixel correlation between
                                PowerBox(seed).delta_x() and LogNormalPowerBox(seed).delta_x()
                                (one white noise makes both fields)
  ln_mean, ln_var               mean over seeds of the log-normal field's pixel mean and variance

Run:  ~/.cache/sbgm-ref/bin/python tools/make_field_fixtures.py   (needs `pip install powerbox==1.0.0`)
Deterministic (powerbox seeds 0..63).
"""

import json
import os
import warnings

import numpy as np
import powerbox

CASES = [(1.5, 2.5, 32), (2.2, 1.6, 32), (2.63, 1.01, 32), (1.08, 1.03, 16), (2.9, 2.9, 8)]
SEEDS = 64


def case(A, B, N):
    pk = lambda k: A * k ** -B
    kw = dict(N=N, dim=2, pk=pk, boxlength=1.0)
    ln = powerbox.LogNormalPowerBox(**kw)
    kx, ky = ln.kvec
    P = ln.power_array()
    PG = ln._unclipped_gaussian_power_array()
    modes = []
    for i in range(P.shape[0]):
        for j in range(P.shape[1]):
            modes.append([round(kx[i] / (2 * np.pi)), round(ky[j] / (2 * np.pi)), float(P[i, j]), float(PG[i, j])])
    corr, means, variances = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in range(SEEDS):
            g = powerbox.PowerBox(seed=s, **kw).delta_x()
            try:
                l = powerbox.LogNormalPowerBox(seed=s, **kw).delta_x()
            except ValueError:
                return None  # powerbox refuses this (A, B) on this grid
            corr.append(np.corrcoef(g.ravel(), l.ravel())[0, 1])
            means.append(l.mean())
            variances.append(l.var())
    return dict(A=A, B=B, N=N, variance=ln.variance, gaussian_variance=ln.gaussian_variance,
                modes=modes, corr_mean=float(np.mean(corr)), corr_sd=float(np.std(corr)),
                ln_mean=float(np.mean(means)), ln_var=float(np.mean(variances)))


def main():
    out = dict(powerbox=powerbox.__version__, seeds=SEEDS, cases=[])
    for A, B, N in CASES:
        c = case(A, B, N)
        if c is None:
            # Still record the deterministic spectra: only the realisation is refused.
            ln = powerbox.LogNormalPowerBox(N=N, dim=2, pk=lambda k: A * k ** -B, boxlength=1.0)
            kx, ky = ln.kvec
            P, PG = ln.power_array(), ln._unclipped_gaussian_power_array()
            c = dict(A=A, B=B, N=N, variance=ln.variance, gaussian_variance=ln.gaussian_variance,
                     refused=True, modes=[[round(kx[i] / (2 * np.pi)), round(ky[j] / (2 * np.pi)), float(P[i, j]), float(PG[i, j])]
                                          for i in range(P.shape[0]) for j in range(P.shape[1])])
        out["cases"].append(c)
        print(A, B, N, "refused" if c.get("refused") else f"corr {c['corr_mean']:.3f}")
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "fields", "powerbox.json")
    with open(path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
