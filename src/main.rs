//! The `sbgm-xla` binary: a thin wrapper over [`sbgm_xla::cli`].

fn main() -> std::process::ExitCode {
    sbgm_xla::cli::main()
}
