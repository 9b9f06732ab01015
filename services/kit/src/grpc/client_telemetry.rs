//! The client side of RPC telemetry: every call a service makes gets a
//! client span, carries that span's W3C trace context in its metadata (so
//! the server continues the trace), and is measured as
//! `rpc.client.call.duration` once its response ends.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use opentelemetry::metrics::Histogram;
use opentelemetry::propagation::Injector;
use tonic::Code;
use tonic::body::Body;
use tower_service::Service;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::telemetry_layer::{MeteredBody, Recorder, status_in};
use crate::telemetry::DURATION_BUCKETS;

/// A gRPC channel (or any client service) with client telemetry.
#[derive(Clone)]
pub struct ClientTelemetry<S> {
    inner: S,
    duration: Histogram<f64>,
}

/// Wraps `inner` (a `tonic::transport::Channel`, typically).
pub fn traced<S>(inner: S) -> ClientTelemetry<S> {
    let duration = opentelemetry::global::meter("inspraak.rpc")
        .f64_histogram("rpc.client.call.duration")
        .with_unit("s")
        .with_description("Duration of RPCs this service made")
        .with_boundaries(DURATION_BUCKETS.to_vec())
        .build();
    ClientTelemetry { inner, duration }
}

struct Headers<'a>(&'a mut HeaderMap);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<Request<Body>> for ClientTelemetry<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let duration = self.duration.clone();
        let started = Instant::now();
        let method = request.uri().path().trim_start_matches('/').to_owned();
        let span = tracing::info_span!(
            "rpc.client",
            otel.name = %method,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            rpc.system.name = "grpc",
            rpc.method = %method,
            rpc.status_code = tracing::field::Empty,
            error.r#type = tracing::field::Empty,
        );
        let context = span.context();
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut Headers(request.headers_mut()));
        });
        Box::pin(
            async move {
                let recorder = Recorder {
                    started,
                    duration,
                    method,
                    // To the caller every status but OK is a failed call.
                    fault: |code| code != Code::Ok,
                    span: tracing::Span::current(),
                };
                let response = match inner.call(request).await {
                    Ok(response) => response,
                    Err(error) => {
                        recorder.record_transport_failure();
                        return Err(error);
                    }
                };
                let (parts, body) = response.into_parts();
                let body = match status_in(&parts.headers) {
                    Some(code) => {
                        recorder.record(code);
                        body
                    }
                    None => Body::new(MeteredBody {
                        inner: body,
                        recorder: Some(recorder),
                    }),
                };
                Ok(Response::from_parts(parts, body))
            }
            .instrument(span),
        )
    }
}
