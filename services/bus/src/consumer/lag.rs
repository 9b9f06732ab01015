//! `inspraak.bus.consumer.lag`: how many messages wait in each consumer's
//! queue, measured by peeking at the queue now and then.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;

/// How often each consumer's queue depth is measured for
/// `inspraak.bus.consumer.lag`.
const LAG_INTERVAL: Duration = Duration::from_secs(15);

/// The last measured depth of each consumer's queue, read by one observable
/// gauge for all of them.
fn lag_of(queue: &str) -> Arc<std::sync::atomic::AtomicU64> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, atomic::AtomicU64, atomic::Ordering};
    type Cells = Mutex<HashMap<String, Arc<AtomicU64>>>;
    static CELLS: OnceLock<Arc<Cells>> = OnceLock::new();
    static GAUGE: OnceLock<opentelemetry::metrics::ObservableGauge<u64>> = OnceLock::new();
    let cells = CELLS.get_or_init(|| Arc::new(Mutex::new(HashMap::new())));
    GAUGE.get_or_init(|| {
        let cells = Arc::clone(cells);
        opentelemetry::global::meter("inspraak-bus")
            .u64_observable_gauge("inspraak.bus.consumer.lag")
            .with_description("Messages in a consumer's queue not yet handled")
            .with_callback(move |observer| {
                if let Ok(cells) = cells.lock() {
                    for (queue, depth) in cells.iter() {
                        observer.observe(
                            depth.load(Ordering::Relaxed),
                            &[KeyValue::new("messaging.destination.name", queue.clone())],
                        );
                    }
                }
            })
            .build()
    });
    let mut cells = cells
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Arc::clone(
        cells
            .entry(queue.to_owned())
            .or_insert_with(|| Arc::new(AtomicU64::new(0))),
    )
}

/// Measures `queue`'s depth every [`LAG_INTERVAL`] until `shutdown`.
pub(super) async fn measure_lag(broker: Broker, queue: String, shutdown: CancellationToken) {
    let depth = lag_of(&queue);
    loop {
        // First wait: the consumer declares its queue meanwhile, and a
        // missing queue is not worth a broker error.
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(LAG_INTERVAL) => {}
        }
        if let Ok((_, total)) = broker.peek(&queue, 0).await {
            depth.store(total, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
