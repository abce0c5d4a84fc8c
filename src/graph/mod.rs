//! Tracing graph builder with reverse-mode autodiff, emitting StableHLO text. Never imports `pjrt`.
