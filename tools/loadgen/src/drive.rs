//! Offering load: closed loop (a fixed number of clients, each sending its
//! next request as soon as the previous one answered) and open loop (a
//! constant arrival rate, whatever the server does).
//!
//! In the open loop a request's latency counts from the time it was
//! scheduled to be sent, not from when it was actually sent: a server that
//! stalls makes the requests queued behind the stall late, and that
//! lateness is what a user waits (no coordinated omission).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::cpu::CpuProbe;
use crate::report::{Errors, Latencies, Measured, Mode};

/// Why a request failed: a gRPC status code name, or a client-side reason.
pub type Failure = String;

/// The failure of a gRPC call, by its status code.
pub fn status(error: &tonic::Status) -> Failure {
    format!("{:?}", error.code())
}

/// One scenario's request, as the drivers call it: `seq` numbers the
/// requests of a scenario across runs (callers use it to make each request
/// distinct, such as a new reaction by a new person); `scheduled` is when
/// the request was due (its send time in a closed loop), for scenarios that
/// follow a request further, to the notification it causes.
pub trait Operation: Send + Sync + 'static {
    fn call(
        &self,
        seq: u64,
        scheduled: Instant,
    ) -> impl Future<Output = Result<(), Failure>> + Send;
}

/// An operation that is an async closure of the sequence number.
pub struct FnOperation<F>(pub F);

impl<F, Fut> Operation for FnOperation<F>
where
    F: Fn(u64, Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Failure>> + Send,
{
    fn call(
        &self,
        seq: u64,
        scheduled: Instant,
    ) -> impl Future<Output = Result<(), Failure>> + Send {
        (self.0)(seq, scheduled)
    }
}

/// An operation from an async closure (the bound gives the closure its
/// parameter types).
pub fn operation<F, Fut>(f: F) -> Arc<FnOperation<F>>
where
    F: Fn(u64, Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Failure>> + Send,
{
    Arc::new(FnOperation(f))
}

/// What one measurement records.
#[derive(Default)]
struct Tally {
    latencies: Latencies,
    errors: Errors,
    ok: u64,
}

impl Tally {
    fn note(&mut self, outcome: Result<(), Failure>, took: Duration) {
        match outcome {
            Ok(()) => {
                self.ok += 1;
                self.latencies.record(took);
            }
            Err(failure) => *self.errors.entry(failure).or_default() += 1,
        }
    }

    fn merge(&mut self, other: &Self) {
        self.latencies.add(&other.latencies);
        self.ok += other.ok;
        for (failure, n) in &other.errors {
            *self.errors.entry(failure.clone()).or_default() += n;
        }
    }
}

/// Where a scenario's sequence numbers continue from, shared by its runs.
#[derive(Clone, Default)]
pub struct Sequence(Arc<AtomicU64>);

impl Sequence {
    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// How long to load, and how long to warm up first (not recorded).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub warmup: Duration,
    pub duration: Duration,
}

/// `concurrency` clients calling `operation` back to back for
/// `timing.duration`, after a warm-up at the same concurrency.
pub async fn closed<O: Operation>(
    scenario: &str,
    run: usize,
    operation: &Arc<O>,
    sequence: &Sequence,
    concurrency: usize,
    timing: Timing,
    cpu: &CpuProbe,
) -> Measured {
    let _ = closed_loop(operation, sequence, concurrency, timing.warmup).await;
    let meter = cpu.start().await;
    let started = Instant::now();
    let tally = closed_loop(operation, sequence, concurrency, timing.duration).await;
    let elapsed = started.elapsed();
    let cpu = meter.stop().await;
    Measured {
        scenario: scenario.to_owned(),
        run,
        mode: Mode::Closed { concurrency },
        ok: tally.ok,
        errors: tally.errors,
        elapsed,
        latencies: tally.latencies,
        cpu: Some(cpu),
        extra: serde_json::Value::Null,
    }
}

async fn closed_loop<O: Operation>(
    operation: &Arc<O>,
    sequence: &Sequence,
    concurrency: usize,
    duration: Duration,
) -> Tally {
    if duration.is_zero() {
        return Tally::default();
    }
    let end = Instant::now() + duration;
    let clients: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (operation, sequence) = (operation.clone(), sequence.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < end {
                    let sent = Instant::now();
                    let outcome = operation.call(sequence.next(), sent).await;
                    tally.note(outcome, sent.elapsed());
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for client in clients {
        match client.await {
            Ok(tally) => total.merge(&tally),
            Err(_) => {
                *total
                    .errors
                    .entry("client_panicked".to_owned())
                    .or_default() += 1
            }
        }
    }
    total
}

/// When the `i`th request of an open loop at `rate` per second is due,
/// counted from the loop's start.
pub fn due(i: u64, rate: f64) -> Duration {
    // Request numbers far below 2^52.
    #[allow(clippy::cast_precision_loss)]
    Duration::from_secs_f64(i as f64 / rate)
}

/// The most requests an open loop keeps in flight; beyond it a request is
/// counted as an error ("client_overloaded") instead of piling up without
/// bound behind a server that stopped answering.
const MAX_IN_FLIGHT: u64 = 20_000;

/// Requests at a constant `rate` per second for `timing.duration`, each
/// timed from its scheduled send time.
pub async fn open<O: Operation>(
    scenario: &str,
    run: usize,
    operation: &Arc<O>,
    sequence: &Sequence,
    rate: f64,
    timing: Timing,
    cpu: &CpuProbe,
) -> Measured {
    let meter = cpu.start().await;
    let started = Instant::now();
    let tally = Arc::new(Mutex::new(Tally::default()));
    // The slowest answer to the requests due in each second of the
    // window: where the tail comes from (a steady queue or a few stalls).
    let seconds = usize::try_from(timing.duration.as_secs()).unwrap_or(0) + 1;
    let worst = Arc::new(Mutex::new(vec![Duration::ZERO; seconds]));
    let in_flight = Arc::new(AtomicU64::new(0));
    let total = (timing.duration.as_secs_f64() * rate).round();
    // A count of requests: far below 2^64 and never negative.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let total = total as u64;
    let mut tasks = Vec::new();
    for i in 0..total {
        let scheduled = started + due(i, rate);
        // Late wake-ups send the requests that became due at once: the
        // schedule, not the previous send, sets the pace.
        tokio::time::sleep_until(scheduled).await;
        if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            if let Ok(mut t) = tally.lock() {
                t.note(Err("client_overloaded".to_owned()), Duration::ZERO);
            }
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (operation, tally, in_flight) = (operation.clone(), tally.clone(), in_flight.clone());
        let worst = worst.clone();
        let second = usize::try_from((scheduled - started).as_secs()).unwrap_or(usize::MAX);
        let seq = sequence.next();
        tasks.push(tokio::spawn(async move {
            let outcome = operation.call(seq, scheduled).await;
            let took = scheduled.elapsed();
            in_flight.fetch_sub(1, Ordering::Relaxed);
            if let Ok(mut t) = tally.lock() {
                t.note(outcome, took);
            }
            if let Ok(mut worst) = worst.lock()
                && let Some(slot) = worst.get_mut(second)
            {
                *slot = (*slot).max(took);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed();
    let cpu = meter.stop().await;
    let tally = match Arc::try_unwrap(tally) {
        Ok(mutex) => mutex.into_inner().unwrap_or_default(),
        Err(shared) => shared
            .lock()
            .map(|t| {
                let mut copy = Tally::default();
                copy.merge(&t);
                copy
            })
            .unwrap_or_default(),
    };
    Measured {
        scenario: scenario.to_owned(),
        run,
        mode: Mode::Open { rate },
        ok: tally.ok,
        errors: tally.errors,
        // The offered window, not the time the last answer took: the
        // throughput of an open loop is the rate it kept up with.
        elapsed: elapsed.max(timing.duration),
        latencies: tally.latencies,
        cpu: Some(cpu),
        extra: serde_json::json!({"worst_ms_by_second": worst_by_second(&worst)}),
    }
}

/// Each second's slowest answer in whole milliseconds (the window's seconds
/// in order; a second whose requests all failed to answer shows 0).
fn worst_by_second(worst: &Mutex<Vec<Duration>>) -> Vec<u64> {
    worst
        .lock()
        .map(|worst| {
            worst
                .iter()
                .map(|took| u64::try_from(took.as_millis()).unwrap_or(u64::MAX))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_evenly_spaced_from_the_start() {
        assert_eq!(due(0, 1000.0), Duration::ZERO);
        assert_eq!(due(1, 1000.0), Duration::from_millis(1));
        assert_eq!(due(500, 500.0), Duration::from_secs(1));
        assert_eq!(due(60_000, 1000.0), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_loop_counts_a_stall_for_every_request_queued_behind_it() {
        // The server answers one request at a time and takes 10 ms each; at
        // 1000/s the requests queue up, and their latency grows with the
        // queue although each call's own service time stays 10 ms.
        let server = Arc::new(tokio::sync::Mutex::new(()));
        let operation = operation(move |_, _| {
            let server = server.clone();
            async move {
                let _turn = server.lock().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(())
            }
        });
        let timing = Timing {
            warmup: Duration::ZERO,
            duration: Duration::from_millis(100),
        };
        let measured = open(
            "t",
            1,
            &operation,
            &Sequence::default(),
            1000.0,
            timing,
            &CpuProbe::default(),
        )
        .await;
        assert_eq!(measured.ok, 100);
        // The last request waited behind 99 others: about a second, where a
        // closed-loop view would have said 10 ms.
        assert!(
            measured.latencies.ms(1.0) > 900.0,
            "{}",
            measured.latencies.ms(1.0)
        );
        assert!(measured.latencies.ms(0.0) >= 10.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_loop_counts_failures_by_reason() {
        let operation = operation(|seq, _| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            if seq.is_multiple_of(4) {
                Err("Unavailable".to_owned())
            } else {
                Ok(())
            }
        });
        let timing = Timing {
            warmup: Duration::ZERO,
            duration: Duration::from_millis(100),
        };
        let measured = closed(
            "t",
            1,
            &operation,
            &Sequence::default(),
            2,
            timing,
            &CpuProbe::default(),
        )
        .await;
        let failed = measured.errors.get("Unavailable").copied().unwrap_or(0);
        assert!(failed > 0);
        assert!(measured.ok >= 2 * failed);
    }
}
