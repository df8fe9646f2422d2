//! Exact merges of what several machines measured: HdrHistograms decoded from the report,
//! added and re-encoded (percentiles are recomputed from the union, never averaged), and
//! timelines aligned on wall-clock seconds.
//!
//! A machine's timeline entry `t_ms` covers `[start + t_ms − 1000, start + t_ms)` of its own
//! measured phase. Entries are aligned by that absolute second, rounded to the nearest second
//! of the merged phase (which starts with the earliest machine), so machines started a few
//! hundred milliseconds apart add up second by second. Counts and gauges (in use, idle,
//! waiting, backends) are summed per second: they are what the machines had at once.

use hdrhistogram::Histogram;

use super::MergeError;
use crate::record::histogram::{self, ms};
use crate::report::build::summarize;
use crate::report::model::{LatencySummary, ServerBackends, TimelineEntry};

/// Decodes and adds the histograms of `summaries`; `what` names them in errors.
pub(crate) fn histogram<'a>(
    what: &str,
    summaries: impl IntoIterator<Item = &'a str>,
    empty: fn() -> Histogram<u64>,
) -> Result<Histogram<u64>, MergeError> {
    let mut sum: Option<Histogram<u64>> = None;
    for text in summaries {
        if text.is_empty() {
            continue;
        }
        let h = histogram::decode(text).map_err(|e| MergeError::Data(format!("{what}: {e}")))?;
        match &mut sum {
            None => sum = Some(h),
            Some(s) => s
                .add(&h)
                .map_err(|e| MergeError::Data(format!("{what}: cannot add: {e:?}")))?,
        }
    }
    Ok(sum.unwrap_or_else(empty))
}

/// The union of some latency summaries, summarized again from the merged histogram.
pub(crate) fn latency<'a>(
    what: &str,
    summaries: impl IntoIterator<Item = &'a LatencySummary>,
) -> Result<LatencySummary, MergeError> {
    let h = histogram(
        what,
        summaries.into_iter().map(|s| s.hdr.as_str()),
        histogram::new,
    )?;
    let hdr = encoded(what, &h)?;
    Ok(LatencySummary {
        hdr,
        ..summarize(&h)
    })
}

/// The merged histogram's report form; refused (never a panic) when its counts are beyond
/// what the format holds, which only reports claiming impossible counts can bring about.
fn encoded(what: &str, h: &Histogram<u64>) -> Result<String, MergeError> {
    histogram::try_encode(h).map_err(|e| {
        MergeError::Data(format!(
            "{what}: {e}: the merged counts exceed what a report can hold"
        ))
    })
}

/// One machine's timeline, and where its measured phase started relative to the merged one.
pub(crate) struct Part<'a> {
    pub(crate) offset_ms: i64,
    pub(crate) entries: &'a [TimelineEntry],
}

/// The longest merged timeline: a week of seconds (a report claiming more is corrupt).
const MAX_SECONDS: usize = 7 * 24 * 3600;

/// Aligns the machines' timelines on wall-clock seconds and adds them up.
pub(crate) fn merge(variant: &str, parts: &[Part<'_>]) -> Result<Vec<TimelineEntry>, MergeError> {
    let mut seconds: Vec<Vec<&TimelineEntry>> = Vec::new();
    for p in parts {
        for e in p.entries {
            let t_ms = i64::try_from(e.t_ms).unwrap_or(i64::MAX);
            let start = p.offset_ms.saturating_add(t_ms).saturating_sub(1000);
            let k = usize::try_from((start as f64 / 1000.0).round() as i64).unwrap_or(0);
            if k >= MAX_SECONDS {
                return Err(MergeError::Data(format!(
                    "variant `{variant}`: a timeline entry at t_ms = {} lies more than a week into the merged run",
                    e.t_ms
                )));
            }
            if seconds.len() <= k {
                seconds.resize_with(k + 1, Vec::new);
            }
            seconds[k].push(e);
        }
    }
    seconds
        .iter()
        .enumerate()
        .map(|(k, entries)| second(variant, k as u64, entries))
        .collect()
}

fn second(variant: &str, k: u64, entries: &[&TimelineEntry]) -> Result<TimelineEntry, MergeError> {
    let what = format!("variant `{variant}`: timeline second {}", k + 1);
    let hist = histogram(
        &what,
        entries.iter().map(|e| e.hdr.as_str()),
        histogram::new_interval,
    )?;
    let (p50, p99) = if hist.is_empty() {
        (0.0, 0.0)
    } else {
        (
            ms(hist.value_at_quantile(0.5)),
            ms(hist.value_at_quantile(0.99)),
        )
    };
    let sum =
        |f: fn(&TimelineEntry) -> u64| entries.iter().fold(0u64, |acc, e| acc.saturating_add(f(e)));
    let mut errors = std::collections::BTreeMap::new();
    for e in entries {
        for (class, n) in &e.errors {
            let total: &mut u64 = errors.entry(*class).or_default();
            *total = total.saturating_add(*n);
        }
    }
    let backends: Vec<_> = entries
        .iter()
        .filter_map(|e| e.server_backends.as_ref())
        .collect();
    let server_backends = (!backends.is_empty()).then(|| {
        let mut all = ServerBackends::default();
        backends.iter().for_each(|b| all.merge(b));
        all
    });
    Ok(TimelineEntry {
        t_ms: (k + 1) * 1000,
        ok: sum(|e| e.ok),
        failed: sum(|e| e.failed),
        dropped: sum(|e| e.dropped),
        errors,
        p50,
        p99,
        hdr: encoded(&what, &hist)?,
        in_use: sum(|e| e.in_use),
        idle: sum(|e| e.idle),
        waiting: sum(|e| e.waiting),
        connections_created: sum(|e| e.connections_created),
        connections_closed: sum(|e| e.connections_closed),
        server_backends,
        pooler: crate::report::pooler::merge_second(
            entries.iter().filter_map(|e| e.pooler.as_ref()),
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn entry(t_ms: u64, latencies_ms: &[u64]) -> TimelineEntry {
        let mut h = histogram::new_interval();
        for l in latencies_ms {
            histogram::record(&mut h, Duration::from_millis(*l));
        }
        TimelineEntry {
            t_ms,
            ok: latencies_ms.len() as u64,
            failed: 0,
            dropped: 0,
            errors: Default::default(),
            p50: 0.0,
            p99: 0.0,
            hdr: histogram::encode(&h),
            in_use: 1,
            idle: 0,
            waiting: 0,
            connections_created: 0,
            connections_closed: 0,
            server_backends: None,
            pooler: None,
        }
    }

    #[test]
    fn seconds_align_on_wall_clock_time_and_add_up() {
        let a = [entry(1000, &[1, 2]), entry(2000, &[3])];
        // Started 1.3 s later: its first second is the merged second 2 (rounded from 1.3).
        let b = [entry(1000, &[10]), entry(2000, &[20, 30])];
        let merged = merge(
            "v",
            &[
                Part {
                    offset_ms: 0,
                    entries: &a,
                },
                Part {
                    offset_ms: 1300,
                    entries: &b,
                },
            ],
        )
        .unwrap();
        let oks: Vec<u64> = merged.iter().map(|e| e.ok).collect();
        assert_eq!(oks, [2, 2, 2]);
        assert_eq!(merged[1].in_use, 2, "gauges add up per second");
        assert_eq!(merged[2].t_ms, 3000);
        let h = histogram::decode(&merged[1].hdr).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(merged[1].p99, ms(h.value_at_quantile(0.99)));
    }

    #[test]
    fn histograms_merge_exactly() {
        let mut a = histogram::new();
        let mut b = histogram::new();
        let mut union = histogram::new();
        for (i, us) in (1..2000u64).map(|x| x * 37 % 50_000).enumerate() {
            let h = if i % 3 == 0 { &mut a } else { &mut b };
            histogram::record(h, Duration::from_micros(us));
            histogram::record(&mut union, Duration::from_micros(us));
        }
        let (ea, eb) = (histogram::encode(&a), histogram::encode(&b));
        let merged = histogram("x", [ea.as_str(), eb.as_str()], histogram::new).unwrap();
        assert_eq!(merged.len(), union.len());
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                merged.value_at_quantile(q),
                union.value_at_quantile(q),
                "q {q}"
            );
        }
        assert!(histogram("x", ["not base64!"], histogram::new).is_err());
    }

    /// Issue 9 item 6: counts beyond the format's `i64` on re-encoding were a panic (exit 101).
    #[test]
    fn merged_counts_beyond_the_format_are_refused_not_a_panic() {
        let mut h = histogram::new();
        h.record_n(1000, (1u64 << 62) + 1).unwrap();
        let one = LatencySummary {
            hdr: histogram::encode(&h),
            ..LatencySummary::default()
        };
        let e = latency("variant `v`: latency_ms.operation", [&one, &one]).unwrap_err();
        assert!(
            e.to_string().contains("exceed what a report can hold"),
            "{e}"
        );
        let mut big = entry(1000, &[1]);
        big.hdr = histogram::encode(&h);
        let parts = [big.clone(), big].map(|e| [e]);
        let parts: Vec<Part<'_>> = parts
            .iter()
            .map(|entries| Part {
                offset_ms: 0,
                entries,
            })
            .collect();
        assert!(merge("v", &parts).is_err());
    }
}
