//! Logs, traces and metrics.
//!
//! Logs are `tracing` events, as JSON lines when `LOG_FORMAT=json`. When
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans and metrics are exported over
//! OTLP/gRPC; otherwise the OpenTelemetry API stays a no-op and costs next to
//! nothing. W3C trace context is the propagation format everywhere: gRPC
//! metadata, AMQP headers and the outbox.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::Env;

/// Histogram buckets for durations in seconds, as OpenTelemetry's semantic
/// conventions recommend for RPC and database durations.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("{other:?} is neither text nor json")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// `service.name` of the resource, e.g. `inspraak-identity`.
    pub service_name: String,
    /// `LOG_FORMAT`: text or json.
    pub log_format: LogFormat,
    /// `RUST_LOG`: the log filter (default `info`).
    pub log_filter: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: e.g. `http://otel-collector:4317`.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_METRIC_EXPORT_INTERVAL`
    pub metric_interval: Duration,
}

impl TelemetrySettings {
    pub fn from_env(env: &mut Env, service_name: &str) -> Self {
        let otlp_endpoint: Option<String> =
            env.optional("OTEL_EXPORTER_OTLP_ENDPOINT", "an http:// or https:// URL");
        if let Some(endpoint) = &otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            env.reject(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "must start with http:// or https://",
            );
        }
        Self {
            service_name: env.or(
                "OTEL_SERVICE_NAME",
                service_name.to_owned(),
                "a service name",
            ),
            log_format: env.or("LOG_FORMAT", LogFormat::Text, "text or json"),
            log_filter: env.or("RUST_LOG", "info".to_owned(), "a log filter such as info"),
            otlp_endpoint,
            metric_interval: env
                .duration_or("OTEL_METRIC_EXPORT_INTERVAL", Duration::from_secs(30)),
        }
    }
}

/// Keeps the exporters alive; [`Telemetry::shutdown`] flushes what is
/// buffered, so the last spans of a stopping service are not lost.
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Installs the global subscriber, propagator and providers. Call once, at
    /// start, from inside the tokio runtime.
    pub fn init(settings: &TelemetrySettings) -> anyhow::Result<Self> {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let filter = EnvFilter::try_new(&settings.log_filter)
            .map_err(|e| anyhow::anyhow!("RUST_LOG {:?}: {e}", settings.log_filter))?;

        let (tracer_provider, meter_provider) = match &settings.otlp_endpoint {
            // Without a collector spans are still made (never exported), so
            // that every log line carries a trace id and a span id that
            // match across services.
            None => (
                Some(SdkTracerProvider::builder().build()),
                install_metrics(None).ok(),
            ),
            Some(endpoint) => {
                let resource = opentelemetry_sdk::Resource::builder()
                    .with_service_name(settings.service_name.clone())
                    .build();
                let spans = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint.clone())
                    .with_timeout(Duration::from_secs(5))
                    .build()?;
                let tracer_provider = SdkTracerProvider::builder()
                    .with_batch_exporter(spans)
                    .with_resource(resource.clone())
                    .build();
                let metrics = opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint.clone())
                    .with_timeout(Duration::from_secs(5))
                    .build()?;
                let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(metrics)
                    .with_interval(settings.metric_interval)
                    .build();
                opentelemetry::global::set_tracer_provider(tracer_provider.clone());
                let meter_provider = install_metrics(Some((reader, resource)))?;
                (Some(tracer_provider), Some(meter_provider))
            }
        };

        if let Some(provider) = &tracer_provider {
            opentelemetry::global::set_tracer_provider(provider.clone());
        }
        // RUST_LOG filters the log lines only: spans are traced at INFO
        // whatever the log level, so that quieter logs never cut a trace.
        let otel_layer = tracer_provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("inspraak"))
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
        });
        let fmt_layer = match settings.log_format {
            LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .event_format(json_with_trace_ids())
                .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                .boxed(),
        };
        // The log layer keeps INFO spans too, even when RUST_LOG asks for
        // less: a WARN line inside a request still carries its trace ids.
        let spans = tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span() && *meta.level() <= tracing::Level::INFO
        });
        tracing_subscriber::registry()
            .with(fmt_layer.with_filter(filter.or(spans)))
            .with(otel_layer)
            .try_init()
            .map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))?;
        Ok(Self {
            tracer_provider,
            meter_provider,
        })
    }

    /// Flushes and stops the exporters.
    pub fn shutdown(self) {
        if let Some(provider) = self.tracer_provider
            && let Err(error) = provider.shutdown()
        {
            eprintln!("flushing traces failed: {error}");
        }
        if let Some(provider) = self.meter_provider
            && let Err(error) = provider.shutdown()
        {
            eprintln!("flushing metrics failed: {error}");
        }
    }
}

/// JSON log lines, each with the `trace_id` and `span_id` of the span it
/// was logged in, so a line leads to its trace and back.
pub fn json_with_trace_ids()
-> WithTraceIds<tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Json>> {
    WithTraceIds(
        tracing_subscriber::fmt::format()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false),
    )
}

/// Adds `trace_id` and `span_id` to the JSON object another format wrote,
/// taken from the nearest enclosing span that recorded them (see
/// [`record_trace_ids`]). A subscriber cannot ask for the OpenTelemetry
/// context while it formats (the dispatcher is busy), hence the fields.
pub struct WithTraceIds<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for WithTraceIds<F>
where
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(
            ctx,
            tracing_subscriber::fmt::format::Writer::new(&mut line),
            event,
        )?;
        let ids = ctx.event_scope().and_then(|scope| {
            scope.into_iter().find_map(|span| {
                let extensions = span.extensions();
                let fields = extensions.get::<tracing_subscriber::fmt::FormattedFields<N>>()?;
                let fields: serde_json::Value = serde_json::from_str(fields.as_str()).ok()?;
                Some((
                    fields.get("trace_id")?.as_str()?.to_owned(),
                    fields.get("span_id")?.as_str()?.to_owned(),
                ))
            })
        });
        match (line.trim_end().strip_suffix('}'), ids) {
            (Some(object), Some((trace, span))) => {
                writeln!(
                    writer,
                    "{object},\"trace_id\":\"{trace}\",\"span_id\":\"{span}\"}}"
                )
            }
            _ => writer.write_str(&line),
        }
    }
}

/// Records the OpenTelemetry trace and span ids of `span` into its
/// `trace_id` and `span_id` fields (declared `tracing::field::Empty`), so
/// that every log line inside it carries them.
pub fn record_trace_ids(span: &tracing::Span) {
    use opentelemetry::trace::TraceContextExt;
    let context = span.context();
    let otel = context.span();
    let ids = otel.span_context();
    if ids.is_valid() {
        span.record("trace_id", tracing::field::display(ids.trace_id()));
        span.record("span_id", tracing::field::display(ids.span_id()));
    }
}

static REGISTRY: std::sync::OnceLock<prometheus::Registry> = std::sync::OnceLock::new();

/// Installs the global meter provider: always a Prometheus registry (scraped
/// on the admin port's `/metrics`), plus the OTLP reader when configured.
/// Once per process; later calls fail. Call it before building servers and
/// consumers: instruments made earlier stay no-ops.
pub fn install_metrics(
    otlp: Option<(
        opentelemetry_sdk::metrics::PeriodicReader<opentelemetry_otlp::MetricExporter>,
        opentelemetry_sdk::Resource,
    )>,
) -> anyhow::Result<SdkMeterProvider> {
    let registry = prometheus::Registry::new();
    REGISTRY
        .set(registry.clone())
        .map_err(|_| anyhow::anyhow!("metrics are installed already"))?;
    let prometheus = opentelemetry_prometheus::exporter()
        .with_registry(registry)
        .without_target_info()
        .build()
        .map_err(|e| anyhow::anyhow!("the Prometheus exporter: {e}"))?;
    let mut builder = SdkMeterProvider::builder().with_reader(prometheus);
    if let Some((reader, resource)) = otlp {
        builder = builder.with_reader(reader).with_resource(resource);
    }
    let provider = builder.build();
    opentelemetry::global::set_meter_provider(provider.clone());
    Ok(provider)
}

/// The metrics in the Prometheus text format, if metrics were installed.
pub fn prometheus_text() -> Option<String> {
    let registry = REGISTRY.get()?;
    let mut out = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(&registry.gather(), &mut out)
        .ok()?;
    Some(out)
}

/// Makes `span` continue the trace whose context `headers` carry.
pub fn extract_context(span: &tracing::Span, headers: &http::HeaderMap) {
    struct Headers<'a>(&'a http::HeaderMap);
    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(http::HeaderName::as_str).collect()
        }
    }
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
    let _ = span.set_parent(parent);
}

/// Makes `span` continue the trace named by a W3C `traceparent` value (an
/// event's envelope, an AMQP header).
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    if traceparent.is_empty() {
        return;
    }
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    let _ = span.set_parent(parent);
}

/// The W3C `traceparent` of the current span, or empty when no trace is
/// being recorded.
pub fn current_traceparent() -> String {
    struct Capture(Option<String>);
    impl Injector for Capture {
        fn set(&mut self, key: &str, value: String) {
            if key == "traceparent" {
                self.0 = Some(value);
            }
        }
    }
    let context = tracing::Span::current().context();
    let mut capture = Capture(None);
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut capture));
    capture.0.unwrap_or_default()
}

#[cfg(test)]
mod log_tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("the buffer").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_the_trace_and_span_ids() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(super::json_with_trace_ids())
                    .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                    .with_writer(move || writer.clone()),
            )
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside any span");
            let span = tracing::info_span!(
                "work",
                trace_id = tracing::field::Empty,
                span_id = tracing::field::Empty
            );
            super::record_trace_ids(&span);
            span.in_scope(|| {
                let child = tracing::info_span!("step");
                child.in_scope(|| tracing::info!(input = "x", "inside"));
            });
        });
        let text = String::from_utf8(buffer.0.lock().expect("the buffer").clone()).expect("utf-8");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].get("trace_id").is_none(),
            "no span, no ids: {}",
            lines[0]
        );
        assert_eq!(lines[1]["message"], "inside");
        assert_eq!(lines[1]["input"], "x");
        assert_eq!(lines[1]["trace_id"].as_str().map(str::len), Some(32));
        assert_eq!(lines[1]["span_id"].as_str().map(str::len), Some(16));
    }
}
