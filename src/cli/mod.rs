//! The `sbgm-xla` command line: argument definitions and one file per subcommand.
