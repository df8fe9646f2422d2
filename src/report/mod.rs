//! The report: its JSON model ([`model`]), how a variant's recording becomes one ([`build`]),
//! the findings ([`diagnosis`]), and the exporters: JSON file ([`json`]), terminal summary
//! ([`summary`]) and the JSON Schema ([`schema`]).

pub mod build;
pub mod diagnosis;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod json;
pub mod model;
pub mod schema;
pub mod summary;
pub mod verdict;

pub use model::Report;
