//! The CPU time the serving side spends, read from /proc (Linux).
//!
//! The services run inside the load generator's process, on a runtime of
//! their own whose threads are all named [`SERVER_THREAD`]; the clients run
//! on the main runtime. Summing utime + stime over this process's threads of
//! that name (`/proc/self/task/*/stat`) gives the services' CPU time without
//! the clients'. The PostgreSQL backends serving the benchmark's databases
//! (found in `pg_stat_activity`) and the RabbitMQ node (`beam.smp`, shared
//! with whatever else uses the broker) are read from `/proc/<pid>/stat`.

use std::collections::BTreeMap;
use std::path::Path;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

/// The name of every thread of the services' runtime (at most 15 bytes:
/// the kernel truncates longer names).
pub const SERVER_THREAD: &str = "inspraak-server";

/// Clock ticks per second of utime and stime: 100 on every Linux
/// architecture the platform runs on (`getconf CLK_TCK`).
const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime in ticks, from the text of a `stat` file; `None` if it does
/// not parse. The command name (field 2) may hold spaces and parentheses,
/// so the fields are counted after its closing parenthesis.
pub fn ticks_of_stat(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

fn read_ticks(path: &Path) -> Option<(String, u64)> {
    ticks_of_stat(&std::fs::read_to_string(path).ok()?)
}

/// Ticks of this process's threads named [`SERVER_THREAD`].
fn server_thread_ticks() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| read_ticks(&task.path().join("stat")))
        .filter(|(name, _)| name == SERVER_THREAD)
        .map(|(_, ticks)| ticks)
        .sum()
}

/// The RabbitMQ node's process, if one runs on this machine.
fn broker_pid() -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            read_ticks(&Path::new("/proc").join(pid.to_string()).join("stat"))
                .is_some_and(|(name, _)| name == "beam.smp")
        })
}

/// What is read at the start and at the end of a measurement.
#[derive(Debug, Clone, Default)]
struct Sample {
    server: u64,
    postgres: BTreeMap<u32, u64>,
    broker: Option<u64>,
}

/// Where the serving side's CPU time is read: the services' threads, and
/// optionally the PostgreSQL backends of some databases and the broker.
#[derive(Clone, Default)]
pub struct CpuProbe {
    /// A connection to the server that lists the backends, and the
    /// databases whose backends count.
    postgres: Option<(DatabaseConnection, Vec<String>)>,
    broker: bool,
    /// Whether the services' threads count (not for the direct baselines).
    services: bool,
}

/// CPU seconds spent during one measurement, by whom.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub services: Option<f64>,
    pub postgres: Option<f64>,
    pub broker: Option<f64>,
}

impl CpuProbe {
    /// The services' threads only.
    pub fn services() -> Self {
        Self {
            services: true,
            ..Self::default()
        }
    }

    /// Also the backends serving `databases` (listed through `admin`).
    pub fn with_postgres(mut self, admin: DatabaseConnection, databases: Vec<String>) -> Self {
        self.postgres = Some((admin, databases));
        self
    }

    /// Also the whole RabbitMQ node.
    pub fn with_broker(mut self) -> Self {
        self.broker = true;
        self
    }

    async fn backends(&self) -> Vec<u32> {
        let Some((admin, databases)) = &self.postgres else {
            return Vec::new();
        };
        let list = databases
            .iter()
            .map(|d| format!("'{}'", d.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!("SELECT pid FROM pg_stat_activity WHERE datname IN ({list})");
        match admin
            .query_all_raw(Statement::from_string(admin.get_database_backend(), sql))
            .await
        {
            Ok(rows) => rows
                .iter()
                .filter_map(|row| row.try_get::<i32>("", "pid").ok())
                .filter_map(|pid| u32::try_from(pid).ok())
                .collect(),
            Err(error) => {
                eprintln!("cpu: cannot list the PostgreSQL backends: {error}");
                Vec::new()
            }
        }
    }

    async fn sample(&self) -> Sample {
        let postgres = self
            .backends()
            .await
            .into_iter()
            .filter_map(|pid| {
                let (_, ticks) =
                    read_ticks(&Path::new("/proc").join(pid.to_string()).join("stat"))?;
                Some((pid, ticks))
            })
            .collect();
        Sample {
            server: if self.services {
                server_thread_ticks()
            } else {
                0
            },
            postgres,
            broker: if self.broker {
                broker_pid().and_then(|pid| {
                    read_ticks(&Path::new("/proc").join(pid.to_string()).join("stat"))
                        .map(|(_, ticks)| ticks)
                })
            } else {
                None
            },
        }
    }

    /// Starts measuring.
    pub async fn start(&self) -> CpuMeter {
        CpuMeter {
            probe: self.clone(),
            before: self.sample().await,
        }
    }
}

/// A measurement in progress.
pub struct CpuMeter {
    probe: CpuProbe,
    before: Sample,
}

// Ticks stay far below 2^52.
#[allow(clippy::cast_precision_loss)]
fn seconds(ticks: u64) -> f64 {
    ticks as f64 / TICKS_PER_SECOND
}

impl CpuMeter {
    /// The CPU time spent since `start`. A backend that appeared meanwhile
    /// counts from zero; one that disappeared is not counted.
    pub async fn stop(self) -> CpuUse {
        let after = self.probe.sample().await;
        let postgres: u64 = after
            .postgres
            .iter()
            .map(|(pid, ticks)| ticks.saturating_sub(*self.before.postgres.get(pid).unwrap_or(&0)))
            .sum();
        CpuUse {
            services: self
                .probe
                .services
                .then(|| seconds(after.server.saturating_sub(self.before.server))),
            postgres: self.probe.postgres.is_some().then(|| seconds(postgres)),
            broker: match (self.before.broker, after.broker) {
                (Some(before), Some(after)) => Some(seconds(after.saturating_sub(before))),
                _ => None,
            },
        }
    }
}

impl CpuUse {
    fn per_request(seconds: Option<f64>, requests: u64) -> Option<f64> {
        // Counts far below 2^52.
        #[allow(clippy::cast_precision_loss)]
        let n = requests.max(1) as f64;
        seconds.map(|s| s * 1000.0 / n)
    }

    pub fn per_request_json(&self, requests: u64) -> serde_json::Value {
        serde_json::json!({
            "services": Self::per_request(self.services, requests),
            "postgres": Self::per_request(self.postgres, requests),
            "broker": Self::per_request(self.broker, requests),
        })
    }

    pub fn per_request_text(&self, requests: u64) -> String {
        let parts = [
            ("svc", self.services),
            ("pg", self.postgres),
            ("mq", self.broker),
        ];
        parts
            .iter()
            .filter_map(|(name, s)| {
                Self::per_request(*s, requests).map(|ms| format!("{name} {ms:.3}"))
            })
            .collect::<Vec<_>>()
            .join(" ")
            + " ms"
    }
}

#[cfg(test)]
mod tests {
    use super::ticks_of_stat;

    #[test]
    fn reads_utime_and_stime_after_a_name_with_spaces() {
        let stat = "4242 (inspraak (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 30 0 0 20 0 8 0 1234 0 0";
        assert_eq!(
            ticks_of_stat(stat),
            Some(("inspraak (x) y".to_owned(), 280))
        );
        assert_eq!(ticks_of_stat("garbage"), None);
    }
}
