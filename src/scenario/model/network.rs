//! `[network]`: always-on conditions between the harness and the server, and the vocabulary of
//! `[[fault]] kind = "network"` (its toxics, streams and their keys).
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
pub struct NetworkSettings {
    #[serde(
        default,
        with = "crate::scenario::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub latency: Option<Duration>,
    #[serde(
        default,
        with = "crate::scenario::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub jitter: Option<Duration>,
    /// KB/s in each direction (1 KB = 1000 bytes), as toxiproxy's `rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<u64>,
}

impl NetworkSettings {
    /// Nothing asked: no proxy for this section's sake.
    pub fn is_off(&self) -> bool {
        *self == NetworkSettings::default()
    }
}

impl Settings {
    /// Whether the load's connections go through the proxy.
    pub fn uses_proxy(&self) -> bool {
        !self.network.is_off() || self.fault.iter().any(|f| f.kind == FaultKind::Network)
    }
}

/// `toxic` of a `network` fault: toxiproxy's names.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ToxicName {
    Latency,
    Bandwidth,
    Timeout,
    ResetPeer,
    SlowClose,
    Slicer,
    LimitData,
    Down,
}

impl ToxicName {
    pub fn as_str(self) -> &'static str {
        match self {
            ToxicName::Latency => "latency",
            ToxicName::Bandwidth => "bandwidth",
            ToxicName::Timeout => "timeout",
            ToxicName::ResetPeer => "reset_peer",
            ToxicName::SlowClose => "slow_close",
            ToxicName::Slicer => "slicer",
            ToxicName::LimitData => "limit_data",
            ToxicName::Down => "down",
        }
    }

    /// The keys of its own this toxic takes.
    fn keys(self) -> &'static [&'static str] {
        match self {
            ToxicName::Latency => &["latency", "jitter"],
            ToxicName::Bandwidth => &["rate"],
            ToxicName::Timeout | ToxicName::ResetPeer => &["timeout"],
            ToxicName::SlowClose => &["delay"],
            ToxicName::Slicer => &["average_size", "size_variation", "delay"],
            ToxicName::LimitData => &["bytes"],
            ToxicName::Down => &[],
        }
    }
}

/// `stream` of a `network` fault: which direction it acts on.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StreamName {
    /// Harness → server.
    Upstream,
    /// Server → harness.
    Downstream,
    #[default]
    Both,
}

/// The keys of a fault that only `network` faults take, with whether this one gives them.
fn network_keys(f: &FaultSettings) -> [(&'static str, bool); 11] {
    [
        ("toxic", f.toxic.is_some()),
        ("stream", f.stream.is_some()),
        ("idle_only", f.idle_only.is_some()),
        ("latency", f.latency.is_some()),
        ("jitter", f.jitter.is_some()),
        ("rate", f.rate.is_some()),
        ("timeout", f.timeout.is_some()),
        ("delay", f.delay.is_some()),
        ("average_size", f.average_size.is_some()),
        ("size_variation", f.size_variation.is_some()),
        ("bytes", f.bytes.is_some()),
    ]
}

/// The network keys given that do not apply to this fault (all of them unless it is a
/// `network` fault; a toxic's own keys unless it is that toxic).
pub(crate) fn foreign_network_keys(f: &FaultSettings) -> Vec<&'static str> {
    let given = network_keys(f)
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(k, _)| k);
    if f.kind != FaultKind::Network {
        return given.collect();
    }
    let own = f.toxic.map_or(&[][..], |t| t.keys());
    given
        .filter(|k| is_toxic_key(k) && !own.contains(k))
        .collect()
}

fn is_toxic_key(k: &str) -> bool {
    !["toxic", "for", "stream", "idle_only"].contains(&k)
}

/// What is missing or out of range in a `network` fault: `(key, message)`.
pub(crate) fn network_fault_problems(f: &FaultSettings) -> Vec<(&'static str, String)> {
    let mut p = Vec::new();
    if f.kind != FaultKind::Network {
        return p;
    }
    let Some(toxic) = f.toxic else {
        p.push((
            "toxic",
            "a network fault needs a toxic: latency, bandwidth, timeout, reset_peer, slow_close, \
             slicer, limit_data or down"
                .to_string(),
        ));
        return p;
    };
    let need = |p: &mut Vec<(&'static str, String)>, key: &'static str, given: bool| {
        if !given {
            p.push((key, format!("toxic = \"{}\" needs `{key}`", toxic.as_str())));
        }
    };
    match toxic {
        ToxicName::Latency => need(&mut p, "latency", f.latency.is_some()),
        ToxicName::Bandwidth => need(&mut p, "rate", f.rate.is_some_and(|r| r > 0)),
        ToxicName::SlowClose => need(&mut p, "delay", f.delay.is_some()),
        ToxicName::Slicer => need(
            &mut p,
            "average_size",
            f.average_size.is_some_and(|s| s > 0),
        ),
        ToxicName::LimitData => need(&mut p, "bytes", f.bytes.is_some()),
        ToxicName::Timeout | ToxicName::ResetPeer | ToxicName::Down => {}
    }
    if toxic == ToxicName::Down {
        let given = [
            ("stream", f.stream.is_some()),
            ("idle_only", f.idle_only.is_some()),
            ("fraction", f.fraction.is_some()),
        ];
        for (key, _) in given.into_iter().filter(|(_, g)| *g) {
            p.push((
                key,
                format!("`{key}` does not apply to toxic = \"down\": it acts on the whole proxy"),
            ));
        }
    }
    if f.for_.is_some_and(|d| d.is_zero()) {
        p.push((
            "for",
            "must be positive (leave it out to keep the toxic to the end)".into(),
        ));
    }
    if f.every.is_some() && f.for_.is_none() {
        p.push((
            "for",
            "a repeated network fault needs `for` (each occurrence must end)".into(),
        ));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

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
