//! What the scenarios are measured against, in the same run: the limits of
//! this machine for a gRPC call, for a reaction's SQL and for the bus.

pub mod direct_pg;
pub mod noop;
pub mod raw_bus;
