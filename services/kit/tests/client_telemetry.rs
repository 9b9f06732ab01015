//! A service's own RPCs (here: fetching identity's signing keys) carry the
//! caller's trace context to the server and are measured as
//! `rpc.client.call.duration`. This binary holds one test: it installs the
//! process's global subscriber and meter provider.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use inspraak_kit::auth::{KeySource, PublicKeys};
use inspraak_proto::identity::v1::signing_keys_server::{SigningKeys, SigningKeysServer};
use inspraak_proto::identity::v1::{GetJwksRequest, GetJwksResponse};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// A key server that remembers the traceparent each call carried.
#[derive(Clone, Default)]
struct Keys {
    seen: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl SigningKeys for Keys {
    async fn get_jwks(
        &self,
        request: tonic::Request<GetJwksRequest>,
    ) -> Result<tonic::Response<GetJwksResponse>, tonic::Status> {
        let traceparent = request
            .metadata()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.seen.lock().expect("the list").push(traceparent);
        Ok(tonic::Response::new(GetJwksResponse { keys: Vec::new() }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_fetches_are_traced_and_measured() {
    inspraak_kit::telemetry::install_metrics(None).expect("the meter provider");
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test"))),
    )
    .expect("the only subscriber of this binary");

    let keys = Keys::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(SigningKeysServer::new(keys.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let source = KeySource::identity(&format!("http://{addr}")).expect("endpoint");
    let public = PublicKeys::new(source, Duration::from_millis(1));

    let span = tracing::info_span!("verifying a token");
    let trace_id = span.context().span().span_context().trace_id().to_string();
    public
        .refresh_unless_recent()
        .instrument(span)
        .await
        .expect("the keys");

    let seen = keys.seen.lock().expect("the list").clone();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].starts_with(&format!("00-{trace_id}-")),
        "the call continues the caller's trace: {seen:?} vs {trace_id}"
    );
    let metrics = inspraak_kit::telemetry::prometheus_text().expect("metrics");
    let measured = metrics.lines().any(|line| {
        line.starts_with("rpc_client_call_duration_seconds_count{")
            && line.contains("rpc_method=\"inspraak.identity.v1.SigningKeys/GetJwks\"")
            && line.contains("rpc_status_code=\"OK\"")
            && line.contains("rpc_system_name=\"grpc\"")
            && line.ends_with(" 1")
    });
    assert!(measured, "{metrics}");
}
