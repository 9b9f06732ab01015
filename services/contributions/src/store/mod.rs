//! What contributions keeps: its entities and its schema.

pub mod entities;
pub mod migration;

pub use migration::Migrator;
