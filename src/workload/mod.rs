//! Workloads: parameter values ([`params`]) for the mix the scenario compiled
//! ([`crate::scenario::plan`]), preparing its statements ([`prepare`]), and running one
//! operation's steps on a connection ([`exec`]).

pub(crate) mod exec;
pub(crate) mod params;
pub mod prepare;
pub(crate) mod races;
