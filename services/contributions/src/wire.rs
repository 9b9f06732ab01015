//! Values as they travel: ids and timestamps between the wire and the
//! domain.

use uuid::Uuid;

use crate::error::{Error, Result};

pub use inspraak_kit::clock::timestamp;

/// The id in `raw`, or INVALID_ARGUMENT naming `field`.
pub fn parse_uuid(field: &str, raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| Error::invalid(field, "is not an id"))
}
