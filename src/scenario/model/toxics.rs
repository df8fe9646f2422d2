//! The names a `[[fault]] kind = "network"` takes: its [`ToxicName`] (toxiproxy's) and its
//! [`StreamName`]. A leaf of the model: the fault's settings (`scenario/faults.rs`) name them
//! without reaching the rest of the model, which re-exports the faults.

use serde::{Deserialize, Serialize};

/// `toxic` of a `network` fault: toxiproxy's names.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ToxicName {
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
    pub(crate) fn as_str(self) -> &'static str {
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
    pub(crate) fn keys(self) -> &'static [&'static str] {
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
pub(crate) enum StreamName {
    /// Harness → server.
    Upstream,
    /// Server → harness.
    Downstream,
    #[default]
    Both,
}
