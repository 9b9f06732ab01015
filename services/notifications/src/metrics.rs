//! Notifications' own metrics: notifications sent and failed by channel.

use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;

pub struct Metrics {
    sent: Counter<u64>,
    failed: Counter<u64>,
}

fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let meter = opentelemetry::global::meter("inspraak-notifications");
        Metrics {
            sent: meter
                .u64_counter("inspraak.notifications.sent")
                .with_description("Notifications delivered, by channel (email, in_app)")
                .build(),
            failed: meter
                .u64_counter("inspraak.notifications.failed")
                .with_description("Notifications that failed for good, by channel")
                .build(),
        }
    })
}

pub fn sent(channel: &'static str, count: u64) {
    if count > 0 {
        get().sent.add(count, &[KeyValue::new("channel", channel)]);
    }
}

pub fn failed(channel: &'static str) {
    get().failed.add(1, &[KeyValue::new("channel", channel)]);
}
