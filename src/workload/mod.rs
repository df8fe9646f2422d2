//! Workloads: the weighted mix compiled from the scenario ([`plan`]), parameter values
//! ([`params`]), and running one operation's steps on a connection ([`exec`]).

pub mod exec;
pub mod params;
pub mod plan;
pub mod prepare;
pub(crate) mod races;
