//! Test support shared by every service's tests: isolated databases on the
//! real PostgreSQL (or a SQLite file), unique broker names, signing keys, a
//! JWKS server standing in for identity, and an SMTP sink that keeps the mail
//! it is sent.
//!
//! Server locations come from the environment and default to the local
//! servers: `INSPRAAK_TEST_POSTGRES_URL`
//! (`postgres://postgres:postgres@127.0.0.1:5432/postgres`) and
//! `INSPRAAK_TEST_AMQP_URL` (`amqp://guest:guest@127.0.0.1:5672/%2f`).

mod database;
pub mod smtp;
mod tokens;

pub use database::TestDatabase;
pub use tokens::{RotatingJwks, TestKeys, serve_jwks};

/// `prefix` plus a short random suffix: names for databases, queues and
/// exchanges that no other test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &id[..12])
}

pub fn postgres_admin_url() -> String {
    std::env::var("INSPRAAK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn amqp_url() -> String {
    std::env::var("INSPRAAK_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}
