//! The platform's load generator: its real services on this machine's
//! PostgreSQL and RabbitMQ, measured against baselines taken in the same
//! run (a bare gRPC server, a reaction's SQL sent directly, the raw bus).
//! Every measurement prints a line for people and a JSON line for
//! comparing runs; the session ends with the medians over the runs and the
//! ratios the performance targets are stated in (docs/performance.md).
//!
//! ```text
//! inspraak-loadgen [GROUP...] [--runs N] [--duration S] [--warmup S]
//!     [--concurrency N] [--inputs N] [--open-rate R] [--open-duration S] [--open-runs N]
//!     [--pipeline-events N] [--pipeline-rate R] [--pipeline-duration S]
//!     [--log-statements]
//! GROUP: read, writes, pipeline, login, listing, all (the default)
//! ```

mod baselines;
mod cpu;
mod drive;
mod report;
mod scenarios;
mod servers;
mod suites;

use std::process::ExitCode;
use std::time::Duration;

use crate::drive::Timing;
use crate::report::Results;
use crate::servers::ServerRuntime;
use crate::suites::Options;

const GROUPS: [&str; 5] = ["read", "writes", "pipeline", "login", "listing"];

const USAGE: &str = "usage: inspraak-loadgen [read|writes|pipeline|login|listing|all]... \
[--runs N] [--duration S] [--warmup S] [--concurrency N] [--inputs N] \
[--open-rate R] [--open-duration S] [--open-runs N] [--pipeline-events N] [--pipeline-rate R] \
[--pipeline-duration S] [--log-statements]";

/// The value of `--name`, parsed, or `default`.
fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} takes a number")),
    }
}

fn seconds(args: &[String], name: &str, default: f64) -> Result<Duration, String> {
    let s: f64 = flag(args, name, default)?;
    Duration::try_from_secs_f64(s).map_err(|_| format!("{name}: {s} is not a duration"))
}

fn parse(args: &[String]) -> Result<(Vec<&'static str>, Options), String> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "--log-statements" {
            i += 1;
            continue;
        }
        if arg.starts_with("--") {
            i += 2; // a flag and its value
            continue;
        }
        match arg {
            "all" => groups.extend(GROUPS),
            other => groups.push(
                GROUPS
                    .into_iter()
                    .find(|g| *g == other)
                    .ok_or_else(|| format!("unknown group {other:?}"))?,
            ),
        }
        i += 1;
    }
    if groups.is_empty() {
        groups.extend(GROUPS);
    }
    groups.dedup();
    let options = Options {
        runs: flag(args, "--runs", 1)?,
        timing: Timing {
            warmup: seconds(args, "--warmup", 1.0)?,
            duration: seconds(args, "--duration", 5.0)?,
        },
        concurrency: flag(args, "--concurrency", 16)?,
        inputs: flag(args, "--inputs", 1_000_000)?,
        open_rate: flag(args, "--open-rate", 1000.0)?,
        open_duration: seconds(args, "--open-duration", 60.0)?,
        open_runs: flag(args, "--open-runs", 1)?,
        pipeline_events: flag(args, "--pipeline-events", 20_000)?,
        pipeline_rate: flag(args, "--pipeline-rate", 500.0)?,
        pipeline_duration: seconds(args, "--pipeline-duration", 20.0)?,
        log_statements: args.iter().any(|a| a == "--log-statements"),
    };
    if options.runs == 0 || options.concurrency == 0 || options.inputs < 20_000 {
        return Err("--runs and --concurrency take at least 1, --inputs at least 20000".to_owned());
    }
    if options.open_rate <= 0.0 || options.pipeline_rate <= 0.0 {
        return Err("rates must be positive".to_owned());
    }
    Ok((groups, options))
}

/// The services' logs and telemetry as a deployed service has them (spans
/// made for every call and metrics recorded, nothing exported), so that
/// the scenarios pay what production pays. `RUST_LOG` filters as usual.
fn telemetry() -> Result<inspraak_kit::telemetry::Telemetry, String> {
    let settings = inspraak_kit::telemetry::TelemetrySettings::from_env(
        &mut inspraak_kit::Env::from_pairs(std::env::vars().filter(|(k, _)| k == "RUST_LOG")),
        "inspraak-loadgen",
    );
    inspraak_kit::telemetry::Telemetry::init(&settings).map_err(|e| format!("telemetry: {e}"))
}

async fn session(groups: &[&str], options: &Options) -> Result<(), String> {
    let runtime = ServerRuntime::new()?;
    let admin_url = inspraak_kit::testing::postgres_admin_url();
    let mut connect = sea_orm::ConnectOptions::new(admin_url.clone());
    connect.max_connections(2).sqlx_logging(false);
    let admin = sea_orm::Database::connect(connect)
        .await
        .map_err(|e| format!("connecting to PostgreSQL at {admin_url}: {e}"))?;
    println!(
        "{}",
        serde_json::json!({"session": {
            "groups": groups,
            "runs": options.runs,
            "duration_s": options.timing.duration.as_secs_f64(),
            "warmup_s": options.timing.warmup.as_secs_f64(),
            "concurrency": options.concurrency,
            "inputs": options.inputs,
            "open_rate": options.open_rate,
            "open_duration_s": options.open_duration.as_secs_f64(),
            "open_runs": options.open_runs,
            "pipeline_events": options.pipeline_events,
            "pipeline_rate": options.pipeline_rate,
            "pipeline_duration_s": options.pipeline_duration.as_secs_f64(),
            "services": "in-process, on a runtime of 2 threads named inspraak-server",
        }})
    );
    let mut results = Results::default();
    for group in groups {
        let outcome = match *group {
            "read" => suites::read(&runtime, &admin, options, &mut results).await,
            "writes" => suites::writes(&runtime, &admin, options, &mut results).await,
            "pipeline" => suites::pipeline(&runtime, &admin, options, &mut results).await,
            "login" => suites::login(&runtime, &admin, options, &mut results).await,
            _ => suites::listing(&runtime, &admin, options, &mut results).await,
        };
        outcome.map_err(|e| format!("{group}: {e}"))?;
    }
    results.print_summaries();
    for verdict in suites::verdicts(&results, options) {
        verdict.print();
    }
    let _ = admin.close().await;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (groups, options) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("inspraak-loadgen: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let telemetry = match telemetry() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("inspraak-loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = session(&groups, &options).await;
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inspraak-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
