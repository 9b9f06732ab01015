//! Every RPC gets a span (continuing the caller's W3C trace context from the
//! gRPC metadata) and one `rpc.server.call.duration` measurement, taken when the
//! response body ends, so streaming calls are measured to their last message.
//!
//! This layer also holds the call to its deadline (the caller's
//! `grpc-timeout`, at most the server's default): a call still unanswered
//! then is answered DEADLINE_EXCEEDED, as the gRPC specification says, and
//! measured as such. Left to tonic, its own timer would answer CANCELLED
//! and drop the call unmeasured — the slowest calls would be missing from
//! the very dashboards that should show them. A call whose caller goes away
//! first is measured as CANCELLED.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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
    default_deadline: Option<Duration>,
}

impl RpcTelemetryLayer {
    /// `default_deadline` bounds calls that carry no deadline of their own
    /// (the server's `.timeout`).
    pub fn new(default_deadline: Option<Duration>) -> Self {
        let meter = opentelemetry::global::meter("inspraak.rpc");
        let duration = meter
            .f64_histogram("rpc.server.call.duration")
            .with_unit("s")
            .with_description("Duration of RPCs handled by this server")
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build();
        Self {
            duration,
            default_deadline,
        }
    }
}

impl<S> Layer<S> for RpcTelemetryLayer {
    type Service = RpcTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTelemetry {
            inner,
            duration: self.duration.clone(),
            default_deadline: self.default_deadline,
        }
    }
}

#[derive(Clone)]
pub struct RpcTelemetry<S> {
    inner: S,
    duration: Histogram<f64>,
    default_deadline: Option<Duration>,
}

/// How much earlier than tonic's own timer this layer's fires. tonic's
/// deadline is taken a moment before this layer's and timers fire on
/// millisecond ticks: without the margin, tonic's could fire first.
const AHEAD_OF_TONIC: Duration = Duration::from_millis(2);

/// The deadline a caller gave in `grpc-timeout` (`<up to 8 digits><unit>`,
/// H M S m u n); none when absent or malformed (tonic ignores those too).
/// Read exactly as tonic reads it — the number by `u64`'s parser, which
/// also takes a leading `+` — so that both timers keep the same deadline
/// (`tests/properties` checks the two agree on any header).
pub fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// The measurement of a call not yet answered: taken as CANCELLED if the
/// call is dropped first (its caller went away).
struct Unanswered(Option<Recorder>);

impl Unanswered {
    fn answered(mut self) -> Option<Recorder> {
        self.0.take()
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(recorder) = self.0.take() {
            recorder.record(Code::Cancelled);
        }
    }
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

        // `/package.Service/Method`; the conventions' `rpc.method` is the
        // fully qualified `package.Service/Method`.
        let method = request.uri().path().trim_start_matches('/').to_owned();
        let span = tracing::info_span!(
            "rpc.server",
            otel.name = %method,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            rpc.system.name = "grpc",
            rpc.method = %method,
            rpc.status_code = tracing::field::Empty,
            error.r#type = tracing::field::Empty,
            enduser.id = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        extract_context(&span, request.headers());
        crate::telemetry::record_trace_ids(&span);

        let deadline = match (grpc_timeout(request.headers()), self.default_deadline) {
            (Some(asked), Some(default)) => Some(asked.min(default)),
            (asked, default) => asked.or(default),
        }
        .map(|within| {
            tokio::time::Instant::from_std(started) + within.saturating_sub(AHEAD_OF_TONIC)
        });
        let recorder = Recorder {
            started,
            duration,
            method,
            fault: is_server_fault,
            span: span.clone(),
        };
        Box::pin(
            async move {
                let unanswered = Unanswered(Some(recorder));
                let call = inner.call(request);
                let response = match deadline {
                    None => call.await?,
                    Some(at) => match tokio::time::timeout_at(at, call).await {
                        Ok(response) => response?,
                        Err(_) => tonic::Status::deadline_exceeded(
                            "the call's deadline passed before it was answered",
                        )
                        .into_http(),
                    },
                };
                let Some(recorder) = unanswered.answered() else {
                    return Ok(response);
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

/// Takes the one measurement of a call once its status is known.
pub(crate) struct Recorder {
    pub(crate) started: Instant,
    pub(crate) duration: Histogram<f64>,
    pub(crate) method: String,
    /// Which codes count as errors on this side of the call.
    pub(crate) fault: fn(Code) -> bool,
    pub(crate) span: tracing::Span,
}

impl Recorder {
    pub(crate) fn record(self, code: Code) {
        let name = code_name(code);
        let error = (self.fault)(code).then_some(name);
        self.span.record("rpc.status_code", name);
        self.finish(Some(name), error);
    }

    /// The call never got a status: the connection failed.
    pub(crate) fn record_transport_failure(self) {
        self.finish(None, Some("transport"));
    }

    fn finish(self, status: Option<&'static str>, error: Option<&'static str>) {
        let elapsed = self.started.elapsed().as_secs_f64();
        // A method the server does not know is a typo or a probe: it is
        // counted as `_OTHER` (as the conventions ask), so that junk paths
        // cannot multiply the series.
        let method = if status == Some(code_name(Code::Unimplemented)) {
            "_OTHER".to_owned()
        } else {
            self.method
        };
        let mut attributes = vec![
            KeyValue::new("rpc.system.name", "grpc"),
            KeyValue::new("rpc.method", method),
        ];
        if let Some(status) = status {
            attributes.push(KeyValue::new("rpc.status_code", status));
        }
        if let Some(error) = error {
            attributes.push(KeyValue::new("error.type", error));
            self.span.record("error.type", error);
            self.span.record("otel.status_code", "ERROR");
        }
        self.duration.record(elapsed, &attributes);
    }
}

/// The status code's name as the gRPC specification spells it, which is
/// what the conventions' `rpc.status_code` holds.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
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
