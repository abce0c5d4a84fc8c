//! Sampling (SDE and probability-flow ODE solvers) and log-likelihoods.
