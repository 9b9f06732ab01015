//! A request that is not a valid protobuf message of the method's type is
//! the caller's mistake. tonic answers it INTERNAL (following the gRPC
//! status-code guide), which would count against the error budget and page
//! the people on call for what any client with a bug, or a probe, can send;
//! here it becomes INVALID_ARGUMENT. Server side only: a client decoding a
//! broken response still sees INTERNAL.

use http::{HeaderValue, Response};
use tonic::body::Body;
use tower::util::MapResponseLayer;

/// The prefix of prost's decode errors as tonic puts it in `grpc-message`
/// (percent-encoded: spaces are `%20`).
const DECODE_FAILURE: &[u8] = b"failed%20to%20decode%20Protobuf%20message";

pub type MalformedRequestLayer = MapResponseLayer<fn(Response<Body>) -> Response<Body>>;

pub fn malformed_requests_are_invalid() -> MalformedRequestLayer {
    MapResponseLayer::new(rewrite)
}

fn rewrite(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    // A request that failed to decode never reached the method: its status
    // is in the headers of a trailers-only response.
    let undecodable = headers.get("grpc-status").is_some_and(|s| s == "13")
        && headers
            .get("grpc-message")
            .is_some_and(|m| m.as_bytes().starts_with(DECODE_FAILURE));
    if undecodable {
        headers.insert("grpc-status", HeaderValue::from_static("3"));
        headers.insert(
            "grpc-message",
            HeaderValue::from_static(
                "the%20request%20is%20not%20a%20valid%20message%20of%20this%20method's%20type",
            ),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: &'static str, message: &'static str) -> Response<Body> {
        let mut response = Response::new(Body::empty());
        response
            .headers_mut()
            .insert("grpc-status", HeaderValue::from_static(status));
        response
            .headers_mut()
            .insert("grpc-message", HeaderValue::from_static(message));
        response
    }

    #[test]
    fn only_decode_failures_change() {
        let rewritten = rewrite(response(
            "13",
            "failed%20to%20decode%20Protobuf%20message:%20invalid%20wire%20type",
        ));
        assert_eq!(rewritten.headers()["grpc-status"], "3");
        let internal = rewrite(response("13", "internal error"));
        assert_eq!(internal.headers()["grpc-status"], "13");
        let other = rewrite(response("5", "failed%20to%20decode%20Protobuf%20message"));
        assert_eq!(other.headers()["grpc-status"], "5");
    }
}
