//! Notifications answers with the platform's common errors.

pub use inspraak_kit::error::{Error, Result};
