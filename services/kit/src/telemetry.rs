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
            None => (None, install_metrics(None).ok()),
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

        let otel_layer = tracer_provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer().with_tracer(provider.tracer("inspraak"))
        });
        let fmt_layer = match settings.log_format {
            LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .boxed(),
        };
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt_layer)
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
