//! Latency histograms and how a scenario's result is printed: a line for
//! people and a JSON line for comparing runs.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies in microseconds, 1 µs to 60 s, three significant digits.
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self(
            Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| {
                // The bounds above are valid; this branch never runs.
                Histogram::new(3).unwrap_or_else(|_| unreachable!("a 3-digit histogram"))
            }),
        )
    }
}

impl Latencies {
    pub fn record(&mut self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self.0.record(micros.min(60_000_000));
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The latency at `quantile` (0 to 1), in milliseconds.
    pub fn ms(&self, quantile: f64) -> f64 {
        // Microseconds far below 2^52: exact in f64.
        #[allow(clippy::cast_precision_loss)]
        let micros = self.0.value_at_quantile(quantile) as f64;
        micros / 1000.0
    }
}

/// One scenario's result.
pub struct Outcome<'a> {
    pub scenario: &'a str,
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latencies: &'a Latencies,
    /// Anything else worth keeping with the figures.
    pub extra: serde_json::Value,
}

impl Outcome<'_> {
    pub fn print(&self) {
        let l = self.latencies;
        // Counts far below 2^52.
        #[allow(clippy::cast_precision_loss)]
        let throughput = self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9);
        println!(
            "{:<28} {:>8} req {:>9.0} req/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  errors {}",
            self.scenario,
            self.requests,
            throughput,
            l.ms(0.5),
            l.ms(0.9),
            l.ms(0.99),
            l.ms(0.999),
            self.errors
        );
        let line = serde_json::json!({
            "scenario": self.scenario,
            "requests": self.requests,
            "errors": self.errors,
            "seconds": self.elapsed.as_secs_f64(),
            "throughput": throughput,
            "p50_ms": l.ms(0.5),
            "p90_ms": l.ms(0.9),
            "p99_ms": l.ms(0.99),
            "p999_ms": l.ms(0.999),
            "extra": self.extra,
        });
        println!("{line}");
    }
}
