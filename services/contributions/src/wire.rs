//! Values as they travel: ids and timestamps between the wire and the
//! domain.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The id in `raw`, or INVALID_ARGUMENT naming `field`.
pub fn parse_uuid(field: &str, raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| Error::invalid(field, "is not an id"))
}
