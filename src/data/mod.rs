//! Data sets (built-in 2-D sets, arrays from files, images), scaling and plots.
