//! The report: its JSON model ([`model`]), how a variant's recording becomes one ([`build`]),
//! the findings ([`diagnosis`]), the verdict on `[expect]` ([`verdict`]), a
//! variant's settings ([`settings`]), the comparison with a
//! baseline ([`compare`]), reading a saved report back ([`json`]), and the JSON Schema
//! ([`schema`]); and merging the reports of several machines ([`merge`]), which like `compare`
//! reads them strictly ([`strict`]). Writing the report and the other outputs is
//! `export`'s (a layer above).

pub mod build;
pub mod compare;
pub mod diagnosis;
pub mod fingerprint;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod harness;
pub mod json;
mod measure;
pub mod merge;
pub mod model;
pub mod outages;
pub mod pooler;
pub(crate) mod race_sections;
pub mod races;
pub mod schema;
pub mod settings;
pub mod strict;
pub mod verdict;

pub use model::Report;
