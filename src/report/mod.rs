//! The report: its JSON model ([`model`]), how a variant's recording becomes one ([`build`]),
//! the findings ([`diagnosis`]), the verdict on `[expect]` ([`verdict`]), a
//! variant's settings ([`settings`]), the comparison with a
//! baseline ([`compare`]), reading a saved report back ([`json`]), and the JSON Schema
//! ([`schema`]); and merging the reports of several machines ([`merge`]), which like `compare`
//! reads them strictly ([`strict`]). Writing the report and the other outputs is
//! `export`'s (a layer above).

pub(crate) mod build;
pub mod compare;
pub(crate) mod diagnosis;
pub(crate) mod failures;
pub(crate) mod fingerprint;
#[cfg(test)]
pub(crate) mod fixtures;
pub(crate) mod harness;
pub mod json;
mod measure;
pub(crate) mod merge;
pub mod model;
pub(crate) mod outages;
pub(crate) mod pooler;
pub(crate) mod race_sections;
pub(crate) mod races;
pub mod schema;
pub(crate) mod settings;
pub(crate) mod strict;
pub(crate) mod verdict;

pub use model::Report;
