//! The groups of measurements a session runs. Each group starts what it
//! needs once, then measures its baseline and its scenarios in turns, run
//! after run, alternating which goes first (ABBA), so that a machine that
//! slows down or warms up during the session weighs on both alike; the
//! medians over the runs are compared at the end.

use std::sync::Arc;
use std::time::Duration;

use inspraak_projects::ProjectsSettings;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::baselines::{
    direct_pg,
    noop::NoopServer,
    raw_bus::{Acks, RawBus},
};
use crate::cpu::CpuProbe;
use crate::drive::{self, Operation, Sequence, Timing};
use crate::report::{NO_TARGET, Results, Verdict};
use crate::scenarios::{
    listing::ListingSetup,
    login::LoginSetup,
    pipeline::{PipelineSetup, Writing},
    read::ReadSetup,
    writes::WriteSetup,
};
use crate::servers::{ServerRuntime, database_name};

/// What a session measures, and for how long.
#[derive(Debug, Clone)]
pub struct Options {
    pub runs: usize,
    pub timing: Timing,
    /// Clients of the closed loops.
    pub concurrency: usize,
    /// Inputs of the large listing project.
    pub inputs: u64,
    /// The open loop of reactions.
    pub open_rate: f64,
    pub open_duration: Duration,
    /// How many of the runs include the open loop of reactions (the first
    /// ones): at a rate above what the machine sustains its queue only
    /// grows, and one run of a minute says so.
    pub open_runs: usize,
    /// Events per sustained pipeline measurement.
    pub pipeline_events: usize,
    /// The input-to-inbox open loop.
    pub pipeline_rate: f64,
    pub pipeline_duration: Duration,
    /// Log every statement of the writes group's database (PostgreSQL's
    /// log), to count the statements per request.
    pub log_statements: bool,
}

/// Run `run`'s steps in ABBA order: as given on odd runs, reversed on even.
fn ordered<T>(run: usize, mut steps: Vec<T>) -> Vec<T> {
    if run.is_multiple_of(2) {
        steps.reverse();
    }
    steps
}

async fn closed<O: Operation>(
    results: &mut Results,
    name: &str,
    run: usize,
    operation: &Arc<O>,
    sequence: &Sequence,
    options: &Options,
    cpu: &CpuProbe,
) {
    results.add(
        drive::closed(
            name,
            run,
            operation,
            sequence,
            options.concurrency,
            options.timing,
            cpu,
        )
        .await,
    );
}

/// A read (GetProject, token and telemetry on) against the bare no-op.
pub async fn read(
    runtime: &ServerRuntime,
    admin: &DatabaseConnection,
    options: &Options,
    results: &mut Results,
) -> Result<(), String> {
    let noop = NoopServer::start(runtime).await?;
    let cached = ReadSetup::start(runtime, ProjectsSettings::defaults()).await?;
    // Every read to the database: no row kept, no parts kept.
    let uncached = ReadSetup::start(
        runtime,
        ProjectsSettings {
            view_cache: 0,
            view_max_age: Duration::ZERO,
            ..ProjectsSettings::defaults()
        },
    )
    .await?;
    let noop_cpu = CpuProbe::services();
    let cpu_of = |setup: &ReadSetup| {
        CpuProbe::services().with_postgres(admin.clone(), vec![database_name(&setup.database)])
    };
    let (cached_cpu, uncached_cpu) = (cpu_of(&cached), cpu_of(&uncached));
    let (noop_op, cached_op, uncached_op) =
        (noop.operation(), cached.operation(), uncached.operation());
    let sequence = Sequence::default();
    for run in 1..=options.runs {
        for step in ordered(run, vec!["noop", "get_project", "get_project_uncached"]) {
            match step {
                "noop" => closed(results, step, run, &noop_op, &sequence, options, &noop_cpu).await,
                "get_project" => {
                    closed(
                        results,
                        step,
                        run,
                        &cached_op,
                        &sequence,
                        options,
                        &cached_cpu,
                    )
                    .await
                }
                _ => {
                    closed(
                        results,
                        step,
                        run,
                        &uncached_op,
                        &sequence,
                        options,
                        &uncached_cpu,
                    )
                    .await
                }
            }
        }
    }
    cached.stop(runtime).await;
    uncached.stop(runtime).await;
    drop(noop);
    Ok(())
}

/// The pool of the direct baseline: as large as the service's.
async fn direct_pool(url: &str) -> Result<DatabaseConnection, String> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(16)
        .min_connections(16)
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .map_err(|e| format!("connecting the direct baseline to {url}: {e}"))
}

/// Reactions against their statements sent directly; creating inputs; the
/// open loop of reactions.
pub async fn writes(
    runtime: &ServerRuntime,
    admin: &DatabaseConnection,
    options: &Options,
    results: &mut Results,
) -> Result<(), String> {
    let setup = WriteSetup::start(runtime, options.log_statements).await?;
    let db_name = database_name(&setup.database);
    let pool = direct_pool(&setup.database.url).await?;
    let direct_cpu = CpuProbe::default().with_postgres(admin.clone(), vec![db_name.clone()]);
    let service_cpu = CpuProbe::services().with_postgres(admin.clone(), vec![db_name]);
    let (direct, react, create) = (
        direct_pg::operation(pool.clone()),
        setup.react(),
        setup.create_input(),
    );
    let (direct_seq, react_seq, create_seq) = (
        Sequence::default(),
        Sequence::default(),
        Sequence::default(),
    );
    for run in 1..=options.runs {
        for step in ordered(run, vec!["direct_pg_reaction", "react"]) {
            if step == "react" {
                closed(
                    results,
                    "react",
                    run,
                    &react,
                    &react_seq,
                    options,
                    &service_cpu,
                )
                .await;
            } else {
                closed(
                    results,
                    step,
                    run,
                    &direct,
                    &direct_seq,
                    options,
                    &direct_cpu,
                )
                .await;
            }
        }
        closed(
            results,
            "create_input",
            run,
            &create,
            &create_seq,
            options,
            &service_cpu,
        )
        .await;
        if run > options.open_runs {
            continue;
        }
        let timing = Timing {
            warmup: Duration::ZERO,
            duration: options.open_duration,
        };
        results.add(
            drive::open(
                "react_open",
                run,
                &react,
                &react_seq,
                options.open_rate,
                timing,
                &service_cpu,
            )
            .await,
        );
    }
    let _ = pool.close().await;
    setup.stop(runtime).await;
    Ok(())
}

/// A measurement of the pipeline group's throughput part.
#[derive(Debug, Clone, Copy)]
enum Step {
    RawBus(Acks),
    Pipeline(Writing),
}

/// The pipeline's sustained rate against the raw bus; input to inbox.
pub async fn pipeline(
    runtime: &ServerRuntime,
    admin: &DatabaseConnection,
    options: &Options,
    results: &mut Results,
) -> Result<(), String> {
    let raw = RawBus::open(&inspraak_kit::testing::amqp_url()).await?;
    let setup = PipelineSetup::start(runtime).await?;
    let raw_cpu = CpuProbe::default().with_broker();
    let cpu = CpuProbe::services()
        .with_postgres(admin.clone(), setup.databases())
        .with_broker();
    let timeout = Duration::from_secs(120);
    let sequence = Sequence::default();
    for run in 1..=options.runs {
        let steps = vec![
            Step::RawBus(Acks::EachMessage),
            Step::Pipeline(Writing::Backlog),
            Step::RawBus(Acks::Batched(inspraak_bus::settings::DEFAULT_HANDLER_BATCH)),
            Step::Pipeline(Writing::Concurrent),
        ];
        for step in ordered(run, steps) {
            let measured = match step {
                Step::RawBus(acks) => {
                    raw.measure(run, options.pipeline_events, acks, timeout, &raw_cpu)
                        .await?
                }
                Step::Pipeline(writing) => {
                    setup
                        .sustained(run, options.pipeline_events, writing, timeout, &cpu)
                        .await?
                }
            };
            results.add(measured);
        }
        let timing = Timing {
            warmup: Duration::ZERO,
            duration: options.pipeline_duration,
        };
        for measured in setup
            .input_to_inbox(run, options.pipeline_rate, timing, &sequence, &cpu)
            .await?
        {
            results.add(measured);
        }
    }
    setup.stop(runtime).await;
    raw.close().await;
    Ok(())
}

/// Listing: the thousandth page of a million against the first of a
/// thousand, one client.
pub async fn listing(
    runtime: &ServerRuntime,
    admin: &DatabaseConnection,
    options: &Options,
    results: &mut Results,
) -> Result<(), String> {
    let setup = ListingSetup::start(runtime, options.inputs).await?;
    let cpu =
        CpuProbe::services().with_postgres(admin.clone(), vec![database_name(&setup.database)]);
    let one = Options {
        concurrency: 1,
        ..options.clone()
    };
    let (small, first, thousandth) = (
        setup.small_first_page(),
        setup.first_page(),
        setup.page_1000(),
    );
    let sequence = Sequence::default();
    for run in 1..=options.runs {
        for step in ordered(
            run,
            vec![
                "listing_first_page_1k",
                "listing_first_page",
                "listing_page_1000",
            ],
        ) {
            match step {
                "listing_first_page_1k" => {
                    closed(results, step, run, &small, &sequence, &one, &cpu).await;
                }
                "listing_first_page" => {
                    closed(results, step, run, &first, &sequence, &one, &cpu).await;
                }
                _ => closed(results, step, run, &thousandth, &sequence, &one, &cpu).await,
            }
        }
    }
    setup.stop(runtime).await;
    Ok(())
}

/// Clients of the login loop: a few per core keep argon2 busy without
/// measuring mostly the queue in front of it.
const LOGIN_CLIENTS: usize = 4;

/// Logins, on their own: argon2 sets their pace.
pub async fn login(
    runtime: &ServerRuntime,
    admin: &DatabaseConnection,
    options: &Options,
    results: &mut Results,
) -> Result<(), String> {
    let setup = LoginSetup::start(runtime).await?;
    let cpu =
        CpuProbe::services().with_postgres(admin.clone(), vec![database_name(&setup.database)]);
    let clients = Options {
        concurrency: LOGIN_CLIENTS,
        ..options.clone()
    };
    let (operation, sequence) = (setup.operation(), Sequence::default());
    for run in 1..=options.runs {
        closed(results, "login", run, &operation, &sequence, &clients, &cpu).await;
    }
    setup.stop(runtime).await;
    Ok(())
}

/// The figures the targets are stated in, from the medians of the runs.
pub fn verdicts(results: &Results, options: &Options) -> Vec<Verdict> {
    let mut out = Vec::new();
    let s = |name: &str| results.summary(name);
    if let (Some(read), Some(noop)) = (s("get_project"), s("noop")) {
        let value = read.throughput / noop.throughput;
        out.push(Verdict {
            name: "read_vs_noop",
            what: "GetProject / no-op throughput, same concurrency",
            value,
            target: ">= 0.70",
            met: value >= 0.70,
            stated: true,
        });
    }
    if let (Some(react), Some(direct)) = (s("react"), s("direct_pg_reaction")) {
        let value = react.throughput / direct.throughput;
        out.push(Verdict {
            name: "react_vs_direct_pg",
            what: "React / the same SQL sent directly, throughput",
            value,
            target: ">= 0.50",
            met: value >= 0.50,
            stated: options.concurrency == 16,
        });
    }
    if let Some(open) = s("react_open") {
        out.push(Verdict {
            name: "react_open_p99_ms",
            what: "open loop of reactions: p99 (ms)",
            value: open.p99,
            target: "< 20",
            met: open.p99 < 20.0,
            stated: (options.open_rate - 1000.0).abs() < f64::EPSILON
                && options.open_duration >= Duration::from_secs(60),
        });
        // Counts far below 2^52.
        #[allow(clippy::cast_precision_loss)]
        let errors = open.errors as f64;
        out.push(Verdict {
            name: "react_open_errors",
            what: "open loop of reactions: errors over all runs",
            value: errors,
            target: "= 0",
            met: open.errors == 0,
            stated: true,
        });
    }
    if let (Some(pipeline), Some(raw)) = (s("pipeline_sustained"), s("raw_bus")) {
        let value = pipeline.throughput / raw.throughput;
        out.push(Verdict {
            name: "pipeline_vs_raw_bus",
            what: "relay + consumer draining the outbox / raw bus, events per second",
            value,
            target: ">= 0.50",
            met: value >= 0.50,
            stated: true,
        });
    }
    if let (Some(pipeline), Some(raw)) = (s("pipeline_sustained"), s("raw_bus_batched_acks")) {
        let value = pipeline.throughput / raw.throughput;
        out.push(Verdict {
            name: "pipeline_vs_raw_bus_batched_acks",
            what: "the same against a raw bus acknowledging in batches as the consumer does at best",
            value,
            target: NO_TARGET,
            met: true,
            stated: true,
        });
    }
    if let Some(e2e) = s("input_to_inbox") {
        out.push(Verdict {
            name: "input_to_inbox_p99_ms",
            what: "input creation to notifications' inbox: p99 (ms)",
            value: e2e.p99,
            target: "< 100",
            met: e2e.p99 < 100.0,
            stated: (options.pipeline_rate - 500.0).abs() < f64::EPSILON,
        });
    }
    if let (Some(deep), Some(small)) = (s("listing_page_1000"), s("listing_first_page_1k")) {
        let p50 = deep.p50 / small.p50;
        out.push(Verdict {
            name: "listing_p50_page1000_vs_first_1k",
            what: "listing p50: page 1000 of 1M inputs / first page of 1k",
            value: p50,
            target: "<= 1.5",
            met: p50 <= 1.5,
            stated: options.inputs >= 1_000_000,
        });
        let p99 = deep.p99 / small.p99;
        out.push(Verdict {
            name: "listing_p99_page1000_vs_first_1k",
            what: "listing p99: page 1000 of 1M inputs / first page of 1k",
            value: p99,
            target: "<= 1.5",
            met: p99 <= 1.5,
            stated: options.inputs >= 1_000_000,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ordered;

    #[test]
    fn runs_alternate_which_goes_first() {
        assert_eq!(ordered(1, vec!["a", "b"]), vec!["a", "b"]);
        assert_eq!(ordered(2, vec!["a", "b"]), vec!["b", "a"]);
        assert_eq!(ordered(3, vec!["a", "b"]), vec!["a", "b"]);
    }
}
