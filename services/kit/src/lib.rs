//! The runtime every Inspraak service stands on: configuration, telemetry,
//! the gRPC server, token verification, database access, a controllable clock
//! and shutdown handling.

pub mod admin;
pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod grpc;
pub mod shutdown;
pub mod telemetry;

#[cfg(feature = "test-support")]
pub mod testing;

pub use clock::Clock;
pub use config::Env;
