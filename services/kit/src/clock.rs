//! The platform's notion of "now".
//!
//! Phase windows, answer deadlines, digests and reports all depend on time, so
//! services never call `Utc::now()` directly: they ask a [`Clock`], which tests
//! replace with a manual one they move forward.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, SubsecRound, Utc};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands still at `start` until moved.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Self {
            manual: Some(Arc::new(Mutex::new(start))),
        }
    }

    /// Now, to the microsecond: what PostgreSQL stores, so a time written
    /// and read back compares equal to the one answered at write time.
    pub fn now(&self) -> DateTime<Utc> {
        let now = match &self.manual {
            None => Utc::now(),
            Some(now) => *now.lock().unwrap_or_else(PoisonError::into_inner),
        };
        now.trunc_subsecs(6)
    }

    /// Moves a manual clock forward; the system clock cannot be moved.
    pub fn advance(&self, by: Duration) -> Result<DateTime<Utc>, ClockError> {
        self.set(self.now() + by)
    }

    /// Sets a manual clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) -> Result<DateTime<Utc>, ClockError> {
        let now = self.manual.as_ref().ok_or(ClockError::NotManual)?;
        *now.lock().unwrap_or_else(PoisonError::into_inner) = at;
        Ok(at)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClockError {
    #[error("the system clock cannot be moved")]
    NotManual,
}

/// An instant as the wire carries it.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A wire instant, if it names one.
pub fn from_timestamp(
    at: Option<&prost_types::Timestamp>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let at = at?;
    chrono::DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_it() {
        let start = DateTime::parse_from_rfc3339("2026-03-01T09:00:00Z")
            .unwrap()
            .to_utc();
        let clock = Clock::manual(start);
        let seen_by_service = clock.clone();
        assert_eq!(seen_by_service.now(), start);
        clock.advance(Duration::days(14)).unwrap();
        assert_eq!(seen_by_service.now(), start + Duration::days(14));
    }

    #[test]
    fn time_is_kept_to_the_microsecond() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T09:00:00.123456789Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            Clock::manual(at).now().timestamp_subsec_nanos(),
            123_456_000
        );
        assert_eq!(Clock::system().now().timestamp_subsec_nanos() % 1000, 0);
    }

    #[test]
    fn system_clock_refuses_to_move() {
        assert_eq!(
            Clock::system().advance(Duration::seconds(1)),
            Err(ClockError::NotManual)
        );
    }
}
