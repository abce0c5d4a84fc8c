//! The `sbgm-xla` binary: a thin wrapper over [`sbgm_xla::cli`].

fn main() -> std::process::ExitCode {
    if std::env::var_os("TF_CPP_MIN_LOG_LEVEL").is_none() {
        // XLA's INFO lines (e.g. "cpu_device_count set via create_options") are noise on a
        // command line; warnings and errors still show. Set before any thread exists.
        // SAFETY: the process is single-threaded here; nothing reads the environment concurrently.
        unsafe { std::env::set_var("TF_CPP_MIN_LOG_LEVEL", "1") };
    }
    sbgm_xla::cli::main()
}
