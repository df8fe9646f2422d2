//! The toxics, with toxiproxy's names and meanings, and what each does to one direction of a
//! connection ([`Plan`]) or to the whole connection ([`LinkToxics::ending`]).
//!
//! `upstream` is the harness → server direction, `downstream` server → harness.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// One toxic and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Toxic {
    /// Each chunk is held `latency` ± `jitter` (uniform) before it is passed on.
    Latency { latency: Duration, jitter: Duration },
    /// At most `rate` KB/s (1 KB = 1000 bytes) pass.
    Bandwidth { rate: u64 },
    /// No data passes (it is held, as toxiproxy does, and passes when the toxic goes: a
    /// partition that heals); after `timeout` the connection is closed, with `timeout` zero it
    /// stays open: a blackhole, a half-open socket for as long as the toxic stays.
    Timeout { timeout: Duration },
    /// After `timeout`, the harness's side of the connection is reset (TCP RST).
    ResetPeer { timeout: Duration },
    /// A close is passed on only `delay` after it arrived.
    SlowClose { delay: Duration },
    /// Data is passed on in slices of `average_size` ± `size_variation` bytes, `delay` apart.
    Slicer {
        average_size: usize,
        size_variation: usize,
        delay: Duration,
    },
    /// The connection is closed once `bytes` have passed (since the toxic came).
    LimitData { bytes: u64 },
    /// The proxy stops listening (new connections refused) and closes every connection.
    Down,
}

impl Toxic {
    /// toxiproxy's name of the toxic.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Toxic::Latency { .. } => "latency",
            Toxic::Bandwidth { .. } => "bandwidth",
            Toxic::Timeout { .. } => "timeout",
            Toxic::ResetPeer { .. } => "reset_peer",
            Toxic::SlowClose { .. } => "slow_close",
            Toxic::Slicer { .. } => "slicer",
            Toxic::LimitData { .. } => "limit_data",
            Toxic::Down => "down",
        }
    }
}

/// Which directions a toxic acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Streams {
    Upstream,
    Downstream,
    #[default]
    Both,
}

impl Streams {
    pub(crate) fn covers(self, d: Direction) -> bool {
        match self {
            Streams::Both => true,
            Streams::Upstream => d == Direction::Upstream,
            Streams::Downstream => d == Direction::Downstream,
        }
    }
}

/// A toxic to add: what, on which directions, on which connections.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ToxicSpec {
    pub(crate) toxic: Toxic,
    pub(crate) stream: Streams,
    /// Share of the connections it acts on (toxiproxy's `toxicity`), each chosen at random.
    pub(crate) fraction: f64,
    /// Only connections idle at that moment (no statement in flight, no byte for
    /// `link::IDLE_FOR`); connections opened later are spared.
    pub(crate) idle_only: bool,
}

impl ToxicSpec {
    /// On every connection, both directions.
    pub(crate) fn always(toxic: Toxic) -> ToxicSpec {
        ToxicSpec {
            toxic,
            stream: Streams::Both,
            fraction: 1.0,
            idle_only: false,
        }
    }
}

/// A direction of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Upstream,
    Downstream,
}

/// A toxic as one connection has it: since when, and under which id (to remove it).
#[derive(Clone, Debug)]
pub(crate) struct Applied {
    pub(crate) id: u64,
    pub(crate) toxic: Toxic,
    pub(crate) stream: Streams,
    pub(crate) since: Instant,
}

/// How a connection ends when a toxic ends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Both sockets closed (FIN).
    Close,
    /// The harness's socket reset (SO_LINGER 0, then close: RST).
    Reset,
}

/// Every toxic one connection has, and whether it is being closed.
#[derive(Clone, Debug, Default)]
pub(crate) struct LinkToxics {
    pub(crate) toxics: Vec<Applied>,
    /// Set when the proxy goes down or stops: the connection is closed at once.
    pub(crate) closed: bool,
}

impl LinkToxics {
    /// When and how the toxics end the connection (the earliest of `timeout` > 0 and
    /// `reset_peer`; at once when closed).
    pub(crate) fn ending(&self) -> Option<(Instant, Ending)> {
        if self.closed {
            return Some((Instant::now(), Ending::Close));
        }
        self.toxics
            .iter()
            .filter_map(|a| match a.toxic {
                Toxic::Timeout { timeout } if !timeout.is_zero() => {
                    Some((a.since + timeout, Ending::Close))
                }
                Toxic::ResetPeer { timeout } => Some((a.since + timeout, Ending::Reset)),
                _ => None,
            })
            .min_by_key(|(at, _)| *at)
    }

    pub(crate) fn with(&self, applied: Applied) -> Arc<LinkToxics> {
        let mut next = self.clone();
        next.toxics.push(applied);
        Arc::new(next)
    }

    pub(crate) fn without(&self, id: u64) -> Arc<LinkToxics> {
        let mut next = self.clone();
        next.toxics.retain(|a| a.id != id);
        Arc::new(next)
    }

    pub(crate) fn has(&self, id: u64) -> bool {
        self.toxics.iter().any(|a| a.id == id)
    }
}

/// The slicer's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Slices {
    pub(crate) average: usize,
    pub(crate) variation: usize,
    pub(crate) delay: Duration,
}

/// What one direction's pump does to each chunk, from the toxics it has now.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Plan {
    /// Sum of the latencies, and of the jitters.
    pub(crate) latency: Duration,
    pub(crate) jitter: Duration,
    /// The lowest rate, in bytes per second.
    pub(crate) rate: Option<u64>,
    /// Data is held.
    pub(crate) blackhole: bool,
    pub(crate) slow_close: Option<Duration>,
    pub(crate) slicer: Option<Slices>,
    /// The `limit_data` toxic with the lowest limit: its id and limit.
    pub(crate) limit: Option<(u64, u64)>,
}

impl Plan {
    pub(crate) fn of(toxics: &LinkToxics, d: Direction) -> Plan {
        let mut p = Plan::default();
        for a in toxics.toxics.iter().filter(|a| a.stream.covers(d)) {
            match &a.toxic {
                Toxic::Latency { latency, jitter } => {
                    p.latency += *latency;
                    p.jitter += *jitter;
                }
                Toxic::Bandwidth { rate } => {
                    let bytes = rate.saturating_mul(1000).max(1);
                    p.rate = Some(p.rate.map_or(bytes, |r| r.min(bytes)));
                }
                Toxic::Timeout { .. } => p.blackhole = true,
                Toxic::SlowClose { delay } => {
                    p.slow_close = Some(p.slow_close.map_or(*delay, |d| d.max(*delay)));
                }
                Toxic::Slicer {
                    average_size,
                    size_variation,
                    delay,
                } => {
                    p.slicer = Some(Slices {
                        average: (*average_size).max(1),
                        variation: *size_variation,
                        delay: *delay,
                    });
                }
                Toxic::LimitData { bytes } => {
                    if p.limit.is_none_or(|(_, l)| *bytes < l) {
                        p.limit = Some((a.id, *bytes));
                    }
                }
                Toxic::ResetPeer { .. } | Toxic::Down => {}
            }
        }
        p
    }

    /// How long a chunk is held: the latency, ± the jitter.
    pub(crate) fn delay(&self, rng: &mut fastrand::Rng) -> Duration {
        if self.jitter.is_zero() {
            return self.latency;
        }
        let j = self.jitter.as_nanos() as i128;
        let offset = rng.i64(-(j as i64)..=(j as i64)) as i128;
        let ns = (self.latency.as_nanos() as i128 + offset).max(0);
        Duration::from_nanos(ns as u64)
    }

    /// How many bytes to read at once: a tenth of a second's worth under a bandwidth limit,
    /// so that the limit is smooth.
    pub(crate) fn read_size(&self, buffer: usize) -> usize {
        match self.rate {
            Some(rate) => (rate / 10).clamp(1, buffer as u64) as usize,
            None => buffer,
        }
    }

    /// How long `bytes` take at the rate.
    pub(crate) fn transfer_time(&self, bytes: usize) -> Option<Duration> {
        self.rate
            .map(|r| Duration::from_nanos((bytes as u128 * 1_000_000_000 / r as u128) as u64))
    }
}

impl Slices {
    /// The next slice's length, at most `left`.
    pub(crate) fn next(&self, rng: &mut fastrand::Rng, left: usize) -> usize {
        let low = self.average.saturating_sub(self.variation).max(1);
        let high = self.average.saturating_add(self.variation).max(low);
        rng.usize(low..=high).min(left)
    }
}

/// Whether a connection is chosen for a toxic: with probability `fraction`.
pub(crate) fn chosen(fraction: f64, rng: &mut fastrand::Rng) -> bool {
    fraction >= 1.0 || rng.f64() < fraction
}
