//! The domain's own metrics, for the platform dashboard: inputs created,
//! feedback given, inputs announced overdue. Counted after the commit that
//! made them true.

use std::sync::OnceLock;

use opentelemetry::metrics::Counter;

pub struct Metrics {
    pub inputs_created: Counter<u64>,
    pub feedback_given: Counter<u64>,
    pub inputs_overdue: Counter<u64>,
}

/// The instruments, made once on the global meter provider.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let meter = opentelemetry::global::meter("inspraak-contributions");
        Metrics {
            inputs_created: meter
                .u64_counter("inspraak.contributions.inputs.created")
                .with_description("Inputs posted")
                .build(),
            feedback_given: meter
                .u64_counter("inspraak.contributions.feedback.given")
                .with_description("Inputs answered with official feedback for the first time")
                .build(),
            inputs_overdue: meter
                .u64_counter("inspraak.contributions.inputs.overdue")
                .with_description(
                    "Inputs announced overdue: past their answer deadline without feedback",
                )
                .build(),
        }
    })
}
