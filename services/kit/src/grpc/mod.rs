//! The gRPC side of every service.

mod client_telemetry;
mod readiness;
mod server;
mod status;
mod telemetry_layer;

pub use client_telemetry::{ClientTelemetry, traced};
pub use readiness::{Condition, Readiness};
pub use server::{GrpcServer, OptionalAddr, ServeError, ServerSettings};
pub use status::{FieldViolation, invalid_argument};
pub use telemetry_layer::{RpcTelemetryLayer, is_server_fault};
