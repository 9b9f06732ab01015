//! The platform's scenarios: its real services on PostgreSQL (and
//! RabbitMQ where events flow), called through their gRPC APIs.

pub mod listing;
pub mod login;
pub mod pipeline;
pub mod read;
pub mod writes;
