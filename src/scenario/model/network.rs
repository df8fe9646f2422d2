//! `[network]`: always-on conditions between the harness and the server. The names of
//! `[[fault]] kind = "network"` (its toxics and streams) are in `toxics.rs`, which keys each
//! toxic takes in `scenario/faults.rs`.
//!
//! ```toml
//! [network]
//! latency = "1ms"    # one way, in each direction: the round trip grows by twice it
//! jitter = "100us"   # ± on each latency, uniform
//! bandwidth = 10000  # KB/s (1 KB = 1000 bytes), each direction
//! ```
//!
//! Any key (even `latency = "0s"`) puts the load's connections through the proxy
//! (`src/network/`); so does a `network` fault. The admin connection and the samplers go
//! direct, so the harness still sees the server during a network fault.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;

/// `[network]`: per variant, so "loopback" vs "1 ms away" can be compared in one report.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkSettings {
    #[serde(
        default,
        with = "crate::scenario::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) latency: Option<Duration>,
    #[serde(
        default,
        with = "crate::scenario::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) jitter: Option<Duration>,
    /// KB/s in each direction (1 KB = 1000 bytes), as toxiproxy's `rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bandwidth: Option<u64>,
}

impl NetworkSettings {
    /// Nothing asked: no proxy for this section's sake.
    pub(crate) fn is_off(&self) -> bool {
        *self == NetworkSettings::default()
    }
}

impl Settings {
    /// Whether the load's connections go through the proxy.
    pub(crate) fn uses_proxy(&self) -> bool {
        !self.network.is_off() || self.fault.iter().any(|f| f.kind == FaultKind::Network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::faults::{foreign_network_keys, network_fault_problems};

    fn settings(faults: &str) -> Settings {
        toml::from_str(&format!("name = \"c\"\n{faults}")).unwrap()
    }

    #[test]
    fn network_keys_belong_to_network_faults_and_their_toxic() {
        let s = settings(
            "[[fault]]\nkind = \"terminate_backends\"\nat = \"1s\"\nidle_only = true\n\
             [[fault]]\nkind = \"network\"\ntoxic = \"latency\"\nat = \"1s\"\nlatency = \"1ms\"\nrate = 5\n\
             [[fault]]\nkind = \"network\"\ntoxic = \"down\"\nat = \"1s\"\nstream = \"both\"\n",
        );
        assert_eq!(foreign_network_keys(&s.fault[0]), vec!["idle_only"]);
        assert_eq!(foreign_network_keys(&s.fault[1]), vec!["rate"]);
        assert!(foreign_network_keys(&s.fault[2]).is_empty());
        assert_eq!(network_fault_problems(&s.fault[2])[0].0, "stream");
        assert!(network_fault_problems(&s.fault[1]).is_empty());
        assert!(s.uses_proxy());
    }

    #[test]
    fn a_toxic_without_its_setting_is_a_problem() {
        let s = settings(
            "[[fault]]\nkind = \"network\"\nat = \"1s\"\n\
             [[fault]]\nkind = \"network\"\ntoxic = \"bandwidth\"\nat = \"1s\"\n",
        );
        assert_eq!(network_fault_problems(&s.fault[0])[0].0, "toxic");
        assert_eq!(network_fault_problems(&s.fault[1])[0].0, "rate");
    }
}
