//! The gRPC side of every service.

mod client_telemetry;
mod malformed;
mod readiness;
mod server;
mod status;
mod telemetry_layer;

pub use client_telemetry::{ClientTelemetry, traced};
pub use malformed::{MalformedRequestLayer, malformed_requests_are_invalid};
pub use readiness::{Condition, Readiness};
pub use server::{GrpcServer, OptionalAddr, ServeError, ServerSettings, no_delay};
pub use status::{FieldViolation, bounded, invalid_argument};
pub use telemetry_layer::{RpcTelemetryLayer, grpc_timeout, is_server_fault};
