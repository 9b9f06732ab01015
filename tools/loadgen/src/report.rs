//! Latency histograms and how results are printed: a line for people and a
//! JSON line for comparing runs, per measurement; medians over the runs and
//! the ratios the targets are stated in at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::cpu::CpuUse;

/// The highest latency recorded: anything slower is recorded as this.
const MAX_MICROS: u64 = 60_000_000;

/// Latencies in microseconds, 1 µs to 60 s, three significant digits.
#[derive(Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self(
            Histogram::new_with_bounds(1, MAX_MICROS, 3).unwrap_or_else(|_| {
                // The bounds above are valid; this branch never runs.
                Histogram::new(3).unwrap_or_else(|_| unreachable!("a 3-digit histogram"))
            }),
        )
    }
}

impl Latencies {
    pub fn record(&mut self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self.0.record(micros.min(MAX_MICROS));
    }

    pub fn add(&mut self, other: &Self) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.0.add(&other.0);
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

/// Failed requests, by gRPC status code (or the client-side reason).
pub type Errors = BTreeMap<String, u64>;

/// How the load was offered.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// `n` clients, each sending its next request when the previous answered.
    Closed { concurrency: usize },
    /// Requests sent at a constant rate whatever the answers do; latency
    /// counts from the scheduled send time.
    Open { rate: f64 },
    /// A batch pushed through as fast as it goes (the bus measurements).
    Batch,
}

impl Mode {
    fn json(self) -> serde_json::Value {
        match self {
            Self::Closed { concurrency } => {
                serde_json::json!({"mode": "closed", "concurrency": concurrency})
            }
            Self::Open { rate } => serde_json::json!({"mode": "open", "rate": rate}),
            Self::Batch => serde_json::json!({"mode": "batch"}),
        }
    }
}

/// One measurement of one scenario.
#[derive(Clone)]
pub struct Measured {
    pub scenario: String,
    pub run: usize,
    pub mode: Mode,
    pub ok: u64,
    pub errors: Errors,
    pub elapsed: Duration,
    pub latencies: Latencies,
    pub cpu: Option<CpuUse>,
    /// Anything else worth keeping with the figures.
    pub extra: serde_json::Value,
}

impl Measured {
    pub fn throughput(&self) -> f64 {
        // Counts far below 2^52.
        #[allow(clippy::cast_precision_loss)]
        let ok = self.ok as f64;
        ok / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn print(&self) {
        let l = &self.latencies;
        let cpu = self.cpu.as_ref().map_or_else(String::new, |c| {
            format!("  cpu/req {}", c.per_request_text(self.ok))
        });
        println!(
            "{:<24} run {} {:>8} ok {:>9.0}/s  p50 {:>7.2}  p90 {:>7.2}  p99 {:>7.2}  p99.9 {:>7.2} ms  errors {:?}{cpu}",
            self.scenario,
            self.run,
            self.ok,
            self.throughput(),
            l.ms(0.5),
            l.ms(0.9),
            l.ms(0.99),
            l.ms(0.999),
            self.errors,
        );
        let line = serde_json::json!({
            "scenario": self.scenario,
            "run": self.run,
            "load": self.mode.json(),
            "requests": self.ok,
            "errors": self.errors,
            "seconds": self.elapsed.as_secs_f64(),
            "throughput": self.throughput(),
            "p50_ms": l.ms(0.5),
            "p90_ms": l.ms(0.9),
            "p99_ms": l.ms(0.99),
            "p999_ms": l.ms(0.999),
            "server_cpu_ms_per_request": self.cpu.as_ref().map(|c| c.per_request_json(self.ok)),
            "extra": self.extra,
        });
        println!("{line}");
    }
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        f64::midpoint(values[mid - 1], values[mid])
    }
}

/// Every measurement of a session, for the medians and ratios at its end.
#[derive(Default)]
pub struct Results {
    all: Vec<Measured>,
}

/// The medians of one scenario over its runs.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub runs: usize,
    pub throughput: f64,
    pub p50: f64,
    pub p99: f64,
    pub errors: u64,
}

impl Results {
    pub fn add(&mut self, measured: Measured) {
        measured.print();
        self.all.push(measured);
    }

    pub fn summary(&self, scenario: &str) -> Option<Summary> {
        let runs: Vec<&Measured> = self.all.iter().filter(|m| m.scenario == scenario).collect();
        if runs.is_empty() {
            return None;
        }
        let pick = |f: &dyn Fn(&Measured) -> f64| {
            let mut values: Vec<f64> = runs.iter().copied().map(f).collect();
            median(&mut values)
        };
        Some(Summary {
            runs: runs.len(),
            throughput: pick(&Measured::throughput),
            p50: pick(&|m| m.latencies.ms(0.5)),
            p99: pick(&|m| m.latencies.ms(0.99)),
            errors: runs.iter().map(|m| m.error_count()).sum(),
        })
    }

    /// Prints the medians of every scenario measured, in first-seen order.
    pub fn print_summaries(&self) {
        let mut seen: Vec<&str> = Vec::new();
        for m in &self.all {
            if !seen.contains(&m.scenario.as_str()) {
                seen.push(&m.scenario);
            }
        }
        for scenario in seen {
            if let Some(s) = self.summary(scenario) {
                println!(
                    "{}",
                    serde_json::json!({
                        "summary": scenario,
                        "runs": s.runs,
                        "median_throughput": s.throughput,
                        "median_p50_ms": s.p50,
                        "median_p99_ms": s.p99,
                        "errors_total": s.errors,
                    })
                );
            }
        }
    }
}

/// A figure compared with its target.
pub struct Verdict {
    pub name: &'static str,
    pub value: f64,
    /// What the figure is, in words ("read / no-op throughput").
    pub what: &'static str,
    pub target: &'static str,
    pub met: bool,
    /// Whether the run offered the load the target is stated for (a short
    /// `make bench` does not: its verdicts are indicative).
    pub stated: bool,
}

/// The target of a figure printed for comparison only.
pub const NO_TARGET: &str = "none";

impl Verdict {
    pub fn print(&self) {
        let verdict = if self.target == NO_TARGET {
            "(for comparison)"
        } else if self.met {
            "met"
        } else {
            "MISSED"
        };
        println!(
            "{:<34} {:>9.3}  target {:<10} {}{}",
            self.name,
            self.value,
            self.target,
            verdict,
            if self.stated || self.target == NO_TARGET {
                ""
            } else {
                " (not at the load the target is stated for)"
            }
        );
        println!(
            "{}",
            serde_json::json!({
                "ratio": self.name,
                "what": self.what,
                "value": self.value,
                "target": self.target,
                "met": (self.target != NO_TARGET).then_some(self.met),
                "at_stated_load": self.stated,
            })
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut l = Latencies::default();
        for ms in 1..=1000 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.count(), 1000);
        // Three significant digits: within 0.1% of the exact value.
        assert!((l.ms(0.5) - 500.0).abs() <= 0.5, "{}", l.ms(0.5));
        assert!((l.ms(0.99) - 990.0).abs() <= 1.0, "{}", l.ms(0.99));
        assert!((l.ms(1.0) - 1000.0).abs() <= 1.0, "{}", l.ms(1.0));
    }

    #[test]
    fn slower_than_the_histogram_counts_as_its_maximum() {
        let mut l = Latencies::default();
        l.record(Duration::from_secs(3600));
        assert!((l.ms(1.0) - 60_000.0).abs() < 60.0, "{}", l.ms(1.0));
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert!((median(&mut [3.0, 1.0, 2.0]) - 2.0).abs() < f64::EPSILON);
        assert!((median(&mut [4.0, 1.0, 3.0, 2.0]) - 2.5).abs() < f64::EPSILON);
        assert!(median(&mut []).is_nan());
    }
}
