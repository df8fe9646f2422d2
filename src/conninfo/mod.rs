//! Connection strings, in the layer below the scenario (which validates and redacts them) and
//! the database (which connects with them): parsing a URL or `key=value` settings as libpq
//! does ([`url`], [`libpq`]), libpq's service and password files, and the TLS modes ([`tls`]).

pub mod libpq;
mod libpq_files;
pub mod tls;
pub mod url;
