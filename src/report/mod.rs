//! The report: its JSON model ([`model`]), how a variant's recording becomes one ([`build`]),
//! the findings ([`diagnosis`]), the verdict on `[expect]` ([`verdict`]), the comparison with a
//! baseline ([`compare`]), and the exporters ([`export`]): JSON file ([`json`]), JUnit XML
//! ([`junit`]), Markdown ([`markdown`]), the terminal summary ([`summary`]), and the JSON
//! Schema ([`schema`]); and merging the reports of several machines ([`merge`]), which
//! like `compare` reads them strictly ([`strict`]).

pub mod build;
mod columns;
pub mod compare;
pub mod diagnosis;
pub mod export;
pub mod fingerprint;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod json;
pub mod junit;
mod layout;
pub mod markdown;
pub mod merge;
pub mod model;
pub mod outages;
pub mod pooler;
pub mod schema;
pub mod strict;
pub mod summary;
pub mod verdict;

pub use model::Report;
