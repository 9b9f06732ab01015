//! The gRPC side of every service.

mod readiness;
mod server;
mod status;
mod telemetry_layer;

pub use readiness::{Condition, Readiness};
pub use server::{GrpcServer, OptionalAddr, ServeError, ServerSettings};
pub use status::{FieldViolation, invalid_argument};
pub use telemetry_layer::{RpcTelemetryLayer, is_server_fault};
