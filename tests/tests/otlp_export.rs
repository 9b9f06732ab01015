//! Spans and metrics leave a service over OTLP/gRPC when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set: a collector started by the test
//! receives the server span of a call (named after its method, with the
//! conventions' attributes and the service's name on the resource) and the
//! `rpc.server.call.duration` histogram in seconds. This binary holds one
//! test, because telemetry installs the process's global providers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inspraak_contributions::{ContributionsService, ContributionsSettings};
use inspraak_host::testing::{Shared, TestServer};
use inspraak_kit::telemetry::{LogFormat, Telemetry, TelemetrySettings};
use inspraak_kit::testing::TestDatabase;
use inspraak_proto::contributions::v1 as contributions;
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric;

/// What a collector received.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.spans
            .lock()
            .expect("the span list")
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.metrics
            .lock()
            .expect("the metric list")
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

fn text(value: &Option<AnyValue>) -> Option<&str> {
    match value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| text(&kv.value))
}

async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const METHOD: &str = "inspraak.contributions.v1.Contributions/GetInput";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_reach_an_otlp_collector() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the collector");
    let port = listener.local_addr().expect("its address").port();
    let serving = collector.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(serving.clone()))
            .add_service(MetricsServiceServer::new(serving))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });

    let telemetry = Telemetry::init(&TelemetrySettings {
        service_name: "inspraak-contributions".to_owned(),
        log_format: LogFormat::Text,
        log_filter: "warn".to_owned(),
        otlp_endpoint: Some(format!("http://127.0.0.1:{port}")),
        metric_interval: Duration::from_millis(500),
    })
    .expect("telemetry with an OTLP endpoint");

    let shared = Shared::new().await;
    let database = TestDatabase::sqlite();
    let server = TestServer::start(
        ContributionsService::new(ContributionsSettings::defaults()),
        &database,
        &shared,
    )
    .await;
    // A malformed id: the call is refused, and still traced and measured.
    let refused = ContributionsClient::new(server.channel.clone())
        .get_input(contributions::GetInputRequest {
            id: "not-a-uuid".to_owned(),
        })
        .await
        .expect_err("a malformed id is refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    let spans = collector.spans.clone();
    until("the server span at the collector", || {
        spans.lock().expect("the span list").iter().any(|request| {
            request.resource_spans.iter().any(|resource| {
                resource
                    .scope_spans
                    .iter()
                    .any(|scope| scope.spans.iter().any(|span| span.name == METHOD))
            })
        })
    })
    .await;
    {
        let exported = collector.spans.lock().expect("the span list");
        let (resource, span) = exported
            .iter()
            .flat_map(|request| &request.resource_spans)
            .flat_map(|resource| {
                resource
                    .scope_spans
                    .iter()
                    .flat_map(|scope| &scope.spans)
                    .map(move |span| (resource, span))
            })
            .find(|(_, span)| span.name == METHOD)
            .expect("the span");
        let service_name = resource
            .resource
            .as_ref()
            .and_then(|r| attribute(&r.attributes, "service.name"));
        assert_eq!(service_name, Some("inspraak-contributions"));
        assert_eq!(attribute(&span.attributes, "rpc.system.name"), Some("grpc"));
        assert_eq!(attribute(&span.attributes, "rpc.method"), Some(METHOD));
        assert_eq!(
            attribute(&span.attributes, "rpc.status_code"),
            Some("INVALID_ARGUMENT")
        );
        // The caller's mistake is not the server's error.
        assert_eq!(attribute(&span.attributes, "error.type"), None);
        assert_eq!(span.trace_id.len(), 16, "a W3C trace id");
    }

    let metrics = collector.metrics.clone();
    let measured = move || {
        metrics
            .lock()
            .expect("the metric list")
            .iter()
            .any(|request| {
                request
                    .resource_metrics
                    .iter()
                    .flat_map(|resource| &resource.scope_metrics)
                    .flat_map(|scope| &scope.metrics)
                    .any(|m| {
                        m.name == "rpc.server.call.duration"
                            && m.unit == "s"
                            && matches!(&m.data, Some(metric::Data::Histogram(h))
                            if h.data_points.iter().any(|point| {
                                attribute(&point.attributes, "rpc.method") == Some(METHOD)
                                    && attribute(&point.attributes, "rpc.status_code")
                                        == Some("INVALID_ARGUMENT")
                                    && point.count == 1
                            }))
                    })
            })
    };
    until("rpc.server.call.duration at the collector", measured).await;

    server.stop().await;
    telemetry.shutdown();
}
