//! Stochastic differential equations (VE, VP, SubVP) and their noise schedules.
