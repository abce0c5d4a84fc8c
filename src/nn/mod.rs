//! Neural-network layers and sbgm's score networks, named by their Equinox leaf paths.
