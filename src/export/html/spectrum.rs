//! Latency distributions from the report's HdrHistograms, as HdrHistogram's own plots draw
//! them: the percentile spectrum, latency against `1/(1−q)` on a log axis (p50 at 2, p99 at
//! 100, p99.99 at 10,000), for operation and acquire latency, all variants on one grid so
//! that the page overlays them.

use serde::Serialize;

use crate::record::histogram;
use crate::report::model::VariantReport;

/// At most this many variants are overlaid (a sweep of 1,000 would be unreadable); the page
/// says how many were left out.
pub(crate) const MAX_OVERLAID: usize = 12;

/// Grid points per decade of `1/(1−q)`.
const PER_DECADE: u32 = 10;

/// Decades of the grid: up to p99.999.
const DECADES: u32 = 5;

/// The spectra of a scenario's variants on one grid.
#[derive(Serialize)]
pub(crate) struct Spectra {
    /// `1/(1−q)` of each grid point.
    pub(crate) x: Vec<f64>,
    /// The overlaid variants' names.
    pub(crate) names: Vec<String>,
    /// Per variant, operation latency (ms) at each grid point; null beyond what its count
    /// resolves (`1/(1−q)` above the number of values) or for an unreadable histogram.
    pub(crate) operation: Vec<Vec<Option<f64>>>,
    pub(crate) acquire: Vec<Vec<Option<f64>>>,
    /// Variants not overlaid (beyond [`MAX_OVERLAID`]).
    pub(crate) left_out: usize,
}

/// The grid: `1/(1−q)` from 1 (q = 0) to `10^DECADES`, evenly spaced on a log axis.
fn grid() -> Vec<f64> {
    (0..=PER_DECADE * DECADES)
        .map(|i| 10f64.powf(f64::from(i) / f64::from(PER_DECADE)))
        .collect()
}

/// A histogram's latency (ms) at each grid point.
fn spectrum(hdr: &str, x: &[f64]) -> Vec<Option<f64>> {
    let Ok(h) = histogram::decode(hdr) else {
        return vec![None; x.len()];
    };
    let count = h.len() as f64;
    x.iter()
        .map(|&x| {
            (count > 0.0 && x <= count.max(1.0)).then(|| {
                let q = 1.0 - 1.0 / x;
                histogram::ms(h.value_at_quantile(q))
            })
        })
        .collect()
}

/// The spectra of the first [`MAX_OVERLAID`] variants.
pub(crate) fn spectra(variants: &[VariantReport]) -> Spectra {
    let x = grid();
    let shown = &variants[..variants.len().min(MAX_OVERLAID)];
    Spectra {
        names: shown.iter().map(|v| v.name.clone()).collect(),
        operation: shown
            .iter()
            .map(|v| spectrum(&v.latency_ms.operation.hdr, &x))
            .collect(),
        acquire: shown
            .iter()
            .map(|v| spectrum(&v.latency_ms.acquire.hdr, &x))
            .collect(),
        left_out: variants.len() - shown.len(),
        x,
    }
}

/// The highest value (ms) of a second's interval histogram; none when it cannot be read.
pub(crate) fn max_ms(hdr: &str) -> Option<f64> {
    let h = histogram::decode(hdr).ok()?;
    (!h.is_empty()).then(|| histogram::ms(h.max()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_spectrum_reads_the_histogram_and_stops_at_its_resolution() {
        let mut h = histogram::new();
        for ms in 1..=100u64 {
            histogram::record(&mut h, Duration::from_millis(ms));
        }
        let x = grid();
        assert_eq!(x.len(), 51);
        assert!((x[10] - 10.0).abs() < 1e-9 && (x[20] - 100.0).abs() < 1e-9);
        let s = spectrum(&histogram::encode(&h), &x);
        assert!((s[0].unwrap() - 1.0).abs() < 0.01, "p0 {:?}", s[0]);
        assert!((s[10].unwrap() - 90.0).abs() < 0.1, "p90 {:?}", s[10]);
        assert!(
            s[20].is_some() && s[21].is_none(),
            "100 values resolve to p99"
        );
        assert_eq!(spectrum("not base64!", &x), vec![None; 51]);
        assert!((max_ms(&histogram::encode(&h)).unwrap() - 100.0).abs() < 0.1);
    }
}
