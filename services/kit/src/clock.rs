//! The platform's notion of "now".
//!
//! Phase windows, answer deadlines, digests and reports all depend on time, so
//! services never call `Utc::now()` directly: they ask a [`Clock`], which tests
//! replace with a manual one they move forward.
//!
//! Separate processes cannot share a manual clock, so a platform can also be
//! told to run ahead of the system clock by an offset kept in a file
//! (`CLOCK_OFFSET_FILE`): every process that names the same file lives at the
//! same shifted time, and whoever writes the file moves time for all of them.
//! That is for rehearsals, training environments and system tests that need
//! answer deadlines, phase ends and reports to arrive; production leaves it
//! unset and runs on the system clock.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::config::Env;

/// How long a read of the offset file is trusted: moving time takes effect
/// in every process within this, without a file read per `now()`.
const OFFSET_REREAD: std::time::Duration = std::time::Duration::from_millis(100);

#[derive(Debug, Clone, Default)]
pub struct Clock {
    source: Source,
}

#[derive(Debug, Clone, Default)]
enum Source {
    #[default]
    System,
    Manual(Arc<Mutex<DateTime<Utc>>>),
    Offset(Arc<OffsetFile>),
}

/// The system clock plus the whole seconds written in a file.
#[derive(Debug)]
struct OffsetFile {
    path: PathBuf,
    /// When the file was last read, and the offset it held then.
    last: Mutex<(Instant, Duration)>,
}

impl OffsetFile {
    fn offset(&self) -> Duration {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.0.elapsed() >= OFFSET_REREAD {
            // A file caught half-written, or briefly missing while it is
            // replaced, leaves the offset as it was: time never jumps back to
            // the system clock by accident.
            if let Ok(offset) = read_offset(&self.path) {
                last.1 = offset;
            }
            last.0 = Instant::now();
        }
        last.1
    }
}

/// The offset a file holds: whole seconds, possibly negative, e.g. `1209600`
/// for two weeks ahead.
fn read_offset(path: &Path) -> Result<Duration, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let seconds: i64 = text
        .trim()
        .parse()
        .map_err(|_| format!("holds {:?}, not a number of seconds", text.trim()))?;
    Duration::try_seconds(seconds).ok_or_else(|| format!("{seconds} seconds is out of range"))
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self {
            source: Source::System,
        }
    }

    /// A clock that stands still at `start` until moved.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Self {
            source: Source::Manual(Arc::new(Mutex::new(start))),
        }
    }

    /// The system clock shifted by the seconds written in `path`, read again
    /// at most every 100 ms. The file must hold a number now.
    pub fn offset_by_file(path: impl Into<PathBuf>) -> Result<Self, String> {
        let path = path.into();
        let offset = read_offset(&path)?;
        Ok(Self {
            source: Source::Offset(Arc::new(OffsetFile {
                path,
                last: Mutex::new((Instant::now(), offset)),
            })),
        })
    }

    /// The clock a process runs on: the system clock, or, with
    /// `CLOCK_OFFSET_FILE` set, the system clock shifted by that file's
    /// offset (a file that cannot be read is a configuration error).
    pub fn from_env(env: &mut Env) -> Self {
        let Some(path) = env.optional::<PathBuf>("CLOCK_OFFSET_FILE", "a file path") else {
            return Self::system();
        };
        match Self::offset_by_file(&path) {
            Ok(clock) => clock,
            Err(problem) => {
                env.reject(
                    "CLOCK_OFFSET_FILE",
                    format!("{}: {problem}", path.display()),
                );
                Self::system()
            }
        }
    }

    /// Now, to the microsecond: what PostgreSQL stores, so a time written
    /// and read back compares equal to the one answered at write time.
    pub fn now(&self) -> DateTime<Utc> {
        let now = match &self.source {
            Source::System => Utc::now(),
            Source::Manual(now) => *now.lock().unwrap_or_else(PoisonError::into_inner),
            Source::Offset(file) => Utc::now() + file.offset(),
        };
        now.trunc_subsecs(6)
    }

    /// Moves a manual clock forward; the system clock cannot be moved.
    pub fn advance(&self, by: Duration) -> Result<DateTime<Utc>, ClockError> {
        self.set(self.now() + by)
    }

    /// Sets a manual clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) -> Result<DateTime<Utc>, ClockError> {
        let Source::Manual(now) = &self.source else {
            return Err(ClockError::NotManual);
        };
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

    fn offset_file(content: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("clock-offset-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, content).unwrap();
        path
    }

    /// Polls `now` until it satisfies `ok`, for at most two seconds.
    fn eventually(clock: &Clock, ok: impl Fn(DateTime<Utc>) -> bool) -> bool {
        let deadline = Instant::now() + std::time::Duration::from_secs(2);
        while Instant::now() < deadline {
            if ok(clock.now()) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn an_offset_file_moves_every_clock_that_reads_it() {
        let path = offset_file("3600\n");
        let clock = Clock::offset_by_file(&path).unwrap();
        let other_process = Clock::offset_by_file(&path).unwrap();
        let ahead = clock.now() - Utc::now();
        assert!(
            ahead > Duration::minutes(59) && ahead <= Duration::hours(1),
            "{ahead}"
        );
        std::fs::write(&path, "1209600").unwrap();
        for clock in [&clock, &other_process] {
            assert!(
                eventually(clock, |now| now - Utc::now()
                    > Duration::days(14) - Duration::minutes(1)),
                "two weeks ahead once the file says so"
            );
        }
        // The manual clock's controls do not apply: the file moves it.
        assert_eq!(
            clock.advance(Duration::seconds(1)),
            Err(ClockError::NotManual)
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn an_unreadable_offset_file_keeps_the_last_offset() {
        let path = offset_file("-86400");
        let clock = Clock::offset_by_file(&path).unwrap();
        assert!(Utc::now() - clock.now() > Duration::hours(23));
        std::fs::write(&path, "").unwrap();
        std::thread::sleep(OFFSET_REREAD * 2);
        assert!(
            Utc::now() - clock.now() > Duration::hours(23),
            "half-written"
        );
        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(OFFSET_REREAD * 2);
        assert!(
            Utc::now() - clock.now() > Duration::hours(23),
            "being replaced"
        );
    }

    #[test]
    fn the_offset_file_is_checked_at_start() {
        let mut env = Env::from_pairs::<_, &str, &str>([]);
        let clock = Clock::from_env(&mut env);
        assert!(env.finish().is_ok());
        assert!(
            (clock.now() - Utc::now()).num_seconds().abs() < 5,
            "unset: system time"
        );

        let bad = offset_file("two weeks");
        let mut env = Env::from_pairs([("CLOCK_OFFSET_FILE", bad.to_str().unwrap())]);
        Clock::from_env(&mut env);
        let problems = env.finish().unwrap_err().to_string();
        assert!(problems.contains("CLOCK_OFFSET_FILE"), "{problems}");
        assert!(problems.contains("not a number of seconds"), "{problems}");
        std::fs::remove_file(&bad).unwrap();

        let mut env = Env::from_pairs([("CLOCK_OFFSET_FILE", bad.to_str().unwrap())]);
        Clock::from_env(&mut env);
        let problems = env.finish().unwrap_err().to_string();
        assert!(problems.contains("cannot read it"), "{problems}");

        let good = offset_file("60");
        let mut env = Env::from_pairs([("CLOCK_OFFSET_FILE", good.to_str().unwrap())]);
        let clock = Clock::from_env(&mut env);
        assert!(env.finish().is_ok());
        assert!(clock.now() - Utc::now() > Duration::seconds(55));
        std::fs::remove_file(good).unwrap();
    }
}
