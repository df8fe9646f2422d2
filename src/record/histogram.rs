//! HdrHistograms of latencies in microseconds: creation, recording, summaries, and the
//! base64 "HdrHistogram V2 + deflate" form the report carries so that merges stay exact.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// Highest trackable latency: one hour, in microseconds. Longer values are clamped.
pub const MAX_US: u64 = 3_600_000_000;

/// Latency histograms of a whole variant: 3 significant digits (0.1 %).
pub(crate) fn new() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// Per-second histograms of the timeline: 2 significant digits (1 %) keep an hour-long
/// timeline to a few tens of megabytes.
pub(crate) fn new_interval() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 2).expect("valid histogram bounds")
}

/// Records a duration in microseconds (at least 1, at most [`MAX_US`]).
pub(crate) fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros())
        .unwrap_or(MAX_US)
        .clamp(1, MAX_US);
    h.saturating_record(us);
}

/// Adds `from` into `into`; both have the same bounds, so this cannot fail.
pub(crate) fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    into.add(from)
        .expect("histograms with the same bounds merge");
}

/// Base64 of the V2 + deflate serialization, for a histogram this process recorded: one run's
/// counts stay far below the format's limit (`i64::MAX` per bucket). Histograms built from
/// reports (a merge) go through [`try_encode`].
pub(crate) fn encode(h: &Histogram<u64>) -> String {
    try_encode(h).unwrap_or_else(|_| encode(&new()))
}

/// Base64 of the V2 + deflate serialization; an error for a bucket count above `i64::MAX`,
/// which the format cannot hold (merged reports that claim such counts).
pub(crate) fn try_encode(h: &Histogram<u64>) -> Result<String, String> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| format!("cannot encode the histogram: {e:?}"))?;
    Ok(STANDARD.encode(bytes))
}

/// Decodes what [`encode`] wrote (or any V2 / V2 + deflate histogram).
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| format!("not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("not an HdrHistogram: {e:?}"))
}

/// Microseconds to milliseconds, as the report shows them.
pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_keeps_every_count() {
        let mut h = new();
        for us in [1, 10, 100, 1_000, 10_000, 123_456] {
            record(&mut h, Duration::from_micros(us));
        }
        record(&mut h, Duration::from_secs(7200));
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back.len(), 7);
        assert_eq!(back.max(), h.max());
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
        assert!(
            h.max() <= h.highest_equivalent(MAX_US),
            "clamped to an hour"
        );
    }
}
