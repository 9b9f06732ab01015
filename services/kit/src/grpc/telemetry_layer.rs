//! Every RPC gets a span (continuing the caller's W3C trace context from the
//! gRPC metadata) and one `rpc.server.call.duration` measurement, taken when the
//! response body ends, so streaming calls are measured to their last message.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;
use tonic::Code;
use tonic::body::Body;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use crate::telemetry::{DURATION_BUCKETS, extract_context};

#[derive(Clone)]
pub struct RpcTelemetryLayer {
    duration: Histogram<f64>,
}

impl RpcTelemetryLayer {
    pub fn new() -> Self {
        let meter = opentelemetry::global::meter("inspraak.rpc");
        let duration = meter
            .f64_histogram("rpc.server.call.duration")
            .with_unit("s")
            .with_description("Duration of RPCs handled by this server")
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build();
        Self { duration }
    }
}

impl Default for RpcTelemetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for RpcTelemetryLayer {
    type Service = RpcTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTelemetry {
            inner,
            duration: self.duration.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcTelemetry<S> {
    inner: S,
    duration: Histogram<f64>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<Request<Body>> for RpcTelemetry<S>
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

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let duration = self.duration.clone();
        let started = Instant::now();

        // `/package.Service/Method`
        let path = request.uri().path().trim_start_matches('/').to_owned();
        let (service, method) = path.split_once('/').unwrap_or((path.as_str(), ""));
        let span = tracing::info_span!(
            "rpc.server",
            otel.name = %path,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            enduser.id = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        extract_context(&span, request.headers());
        crate::telemetry::record_trace_ids(&span);
        let attributes = vec![
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", service.to_owned()),
            KeyValue::new("rpc.method", method.to_owned()),
        ];

        Box::pin(
            async move {
                let response = inner.call(request).await?;
                let span = tracing::Span::current();
                let recorder = Recorder {
                    started,
                    duration,
                    attributes,
                    span,
                };
                // Trailers-only responses (every error) carry the status in
                // the headers; otherwise it arrives in the trailers.
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

pub(crate) fn status_in(headers: &HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|value| Code::from_bytes(value.as_bytes()))
}

pub(crate) struct Recorder {
    pub(crate) started: Instant,
    pub(crate) duration: Histogram<f64>,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) span: tracing::Span,
}

impl Recorder {
    pub(crate) fn record(mut self, code: Code) {
        let elapsed = self.started.elapsed().as_secs_f64();
        self.attributes
            .push(KeyValue::new("rpc.grpc.status_code", code as i64));
        self.duration.record(elapsed, &self.attributes);
        self.span.record("rpc.grpc.status_code", code as i64);
        if is_server_fault(code) {
            self.span.record("otel.status_code", "ERROR");
        }
    }
}

/// The codes that mean the server failed, not the caller (OpenTelemetry's
/// RPC conventions): only these mark a span as an error.
pub fn is_server_fault(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

pin_project_lite::pin_project! {
    pub(crate) struct MeteredBody {
        #[pin]
        pub(crate) inner: Body,
        pub(crate) recorder: Option<Recorder>,
    }

    impl PinnedDrop for MeteredBody {
        fn drop(this: Pin<&mut Self>) {
            // The client went away before the end: the call was cancelled.
            if let Some(recorder) = this.project().recorder.take() {
                recorder.record(Code::Cancelled);
            }
        }
    }
}

impl HttpBody for MeteredBody {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(recorder) = this.recorder.take()
                {
                    recorder.record(status_in(trailers).unwrap_or(Code::Ok));
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(recorder) = this.recorder.take() {
                    recorder.record(Code::Internal);
                }
            }
            Poll::Ready(None) => {
                if let Some(recorder) = this.recorder.take() {
                    recorder.record(Code::Ok);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
