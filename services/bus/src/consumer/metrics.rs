//! The consumer's instruments.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};

#[derive(Clone)]
pub(super) struct ConsumerMetrics {
    consumed: Counter<u64>,
    duplicates: Counter<u64>,
    retried: Counter<u64>,
    dead_lettered: Counter<u64>,
    duration: Histogram<f64>,
    batch_size: Histogram<u64>,
    queue: [KeyValue; 1],
}

impl ConsumerMetrics {
    pub fn new(queue: &str) -> Self {
        let meter = opentelemetry::global::meter("inspraak.bus");
        Self {
            consumed: meter
                .u64_counter("inspraak.bus.consumed")
                .with_description("Events applied by a handler")
                .build(),
            duplicates: meter
                .u64_counter("inspraak.bus.duplicates")
                .with_description("Redelivered events acknowledged without effect")
                .build(),
            retried: meter
                .u64_counter("inspraak.bus.retried")
                .with_description("Handler attempts that failed and were retried")
                .build(),
            dead_lettered: meter
                .u64_counter("inspraak.bus.dead_lettered")
                .with_description("Events sent to the dead-letter queue")
                .build(),
            duration: meter
                .f64_histogram("inspraak.bus.handler.duration")
                .with_unit("s")
                .with_description(
                    "From the start of an event's transaction to its commit (shared by the events of one batch)",
                )
                .with_boundaries(inspraak_kit::telemetry::DURATION_BUCKETS.to_vec())
                .build(),
            batch_size: meter
                .u64_histogram("inspraak.bus.batch.size")
                .with_description("Events applied together in one committed transaction")
                .with_boundaries(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0])
                .build(),
            queue: [KeyValue::new("messaging.destination.name", queue.to_owned())],
        }
    }

    pub fn applied(&self, events: u64) {
        self.consumed.add(events, &self.queue);
    }

    pub fn duplicates(&self, events: u64) {
        self.duplicates.add(events, &self.queue);
    }

    pub fn retried(&self) {
        self.retried.add(1, &self.queue);
    }

    pub fn dead_lettered(&self) {
        self.dead_lettered.add(1, &self.queue);
    }

    /// One transaction of `events` events took `seconds`.
    pub fn transaction(&self, events: usize, seconds: f64) {
        for _ in 0..events {
            self.duration.record(seconds, &self.queue);
        }
    }

    /// A transaction committed the effects of `events` events.
    pub fn committed(&self, events: usize) {
        self.batch_size.record(events as u64, &self.queue);
    }
}
