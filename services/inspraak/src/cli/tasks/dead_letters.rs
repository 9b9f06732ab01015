//! `inspraak dead-letters`: events a service gave up on after its retries,
//! per service — list them, inspect one, replay them (thousands at a time,
//! in batches, with progress).

use inspraak_proto::bus::v1::{DeadLetter, ListDeadLettersRequest, ReplayDeadLettersRequest};
use inspraak_proto::events::v1::Envelope;
use prost::Message;
use serde_json::{Value, json};

use crate::cli::api::Api;
use crate::cli::context::Service;
use crate::cli::failure::{Failure, Kind, Result};
use crate::cli::output::Outcome;
use crate::cli::progress::Progress;
use crate::cli::words::{cell, time};

/// Dead letters replayed per call: big enough to go fast, small enough that
/// one call stays well within its deadline.
const REPLAY_BATCH: i32 = 500;

/// The services that consume events, and so have a dead-letter queue
/// (identity only publishes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Consumer {
    Projects,
    Contributions,
    Notifications,
}

impl From<Consumer> for Service {
    fn from(consumer: Consumer) -> Self {
        match consumer {
            Consumer::Projects => Service::Projects,
            Consumer::Contributions => Service::Contributions,
            Consumer::Notifications => Service::Notifications,
        }
    }
}

const CONSUMERS: [Service; 3] = [
    Service::Projects,
    Service::Contributions,
    Service::Notifications,
];

#[derive(Debug, clap::Subcommand)]
pub enum DeadLettersCommand {
    /// Dead letters, oldest first, of one service or of every service that
    /// consumes events (projects, contributions, notifications)
    #[command(
        after_help = "Examples:\n  inspraak dead-letters list\n  inspraak dead-letters list notifications -o json"
    )]
    List {
        #[arg(value_enum)]
        service: Option<Consumer>,
        /// At most this many per service (up to 1000)
        #[arg(long, default_value_t = 100)]
        limit: i32,
    },
    /// One dead letter with its event decoded
    #[command(after_help = "Example:\n  inspraak dead-letters inspect notifications 0190f3a2-…")]
    Inspect {
        #[arg(value_enum)]
        service: Consumer,
        event_id: String,
    },
    /// Send dead letters back to the queue they failed on
    #[command(after_help = "\
Examples:
  inspraak dead-letters replay notifications --event 0190f3a2-…
  inspraak dead-letters replay notifications --all")]
    Replay {
        #[arg(value_enum)]
        service: Consumer,
        /// Replay this event (repeatable)
        #[arg(
            long = "event",
            value_name = "EVENT_ID",
            required_unless_present = "all"
        )]
        events: Vec<String>,
        /// Replay every dead letter of the service
        #[arg(long, conflicts_with = "events")]
        all: bool,
    },
}

async fn list(api: &mut Api, service: Service, page_size: i32) -> Result<(Vec<DeadLetter>, u64)> {
    let client = api.dead_letters(service)?;
    let doing = format!("listing {}'s dead letters", service.name());
    let reply = api
        .call(
            &doing,
            ListDeadLettersRequest { page_size },
            move |request| {
                let mut client = client.clone();
                async move { client.list_dead_letters(request).await }
            },
        )
        .await?;
    Ok((reply.dead_letters, reply.total))
}

async fn replay(
    api: &mut Api,
    service: Service,
    event_ids: Vec<String>,
    limit: i32,
) -> Result<Vec<String>> {
    let client = api.dead_letters(service)?;
    let doing = format!("replaying {}'s dead letters", service.name());
    let reply = api
        .call(
            &doing,
            ReplayDeadLettersRequest { event_ids, limit },
            move |request| {
                let mut client = client.clone();
                async move { client.replay_dead_letters(request).await }
            },
        )
        .await?;
    Ok(reply.replayed_event_ids)
}

fn letter_json(service: Service, dead: &DeadLetter) -> Value {
    json!({
        "service": service.name(),
        "event_id": dead.event_id,
        "event_type": dead.event_type,
        "queue": dead.queue,
        "attempts": dead.attempts,
        "last_error": dead.last_error,
        "dead_lettered_at": time(&dead.dead_lettered_at),
    })
}

pub async fn run(api: &mut Api, command: DeadLettersCommand, quiet: bool) -> Result<Outcome> {
    match command {
        DeadLettersCommand::List { service, limit } => {
            let services = service.map_or_else(|| CONSUMERS.to_vec(), |s| vec![s.into()]);
            let mut rows = Vec::new();
            let mut values = Vec::new();
            let mut totals = Vec::new();
            for service in services {
                let (letters, total) = list(api, service, limit).await?;
                totals.push(format!("{} {total}", service.name()));
                for dead in &letters {
                    rows.push(vec![
                        service.name().to_owned(),
                        time(&dead.dead_lettered_at),
                        dead.event_type.clone(),
                        dead.attempts.to_string(),
                        cell(&dead.last_error, 50),
                        dead.event_id.clone(),
                    ]);
                    values.push(letter_json(service, dead));
                }
            }
            Ok(Outcome::table(
                vec![
                    "service",
                    "dead since",
                    "event",
                    "attempts",
                    "last error",
                    "event id",
                ],
                rows,
                json!(values),
            )
            .with_footer(format!("dead letters: {}", totals.join(", "))))
        }
        DeadLettersCommand::Inspect { service, event_id } => {
            let service = Service::from(service);
            // The queue is read oldest first and cannot be searched: look
            // through as much of it as one call may return.
            let (letters, _) = list(api, service, 1000).await?;
            let dead = letters
                .into_iter()
                .find(|d| d.event_id == event_id)
                .ok_or_else(|| {
                    Failure::new(
                        Kind::NotFound,
                        format!(
                            "no dead letter {event_id} among the first 1000 of {}",
                            service.name()
                        ),
                    )
                })?;
            let mut value = letter_json(service, &dead);
            let mut fields = vec![
                ("event id", dead.event_id.clone()),
                ("event", dead.event_type.clone()),
                ("service", service.name().to_owned()),
                ("failed on", dead.queue.clone()),
                ("attempts", dead.attempts.to_string()),
                ("dead since", time(&dead.dead_lettered_at)),
                ("last error", dead.last_error.clone()),
            ];
            match Envelope::decode(dead.envelope.as_slice()) {
                Ok(envelope) => {
                    let payload = envelope.payload.as_ref();
                    fields.extend([
                        ("occurred at", time(&envelope.occurred_at)),
                        ("producer", envelope.producer.clone()),
                        (
                            "aggregate",
                            format!(
                                "{} {} (version {})",
                                envelope.aggregate_type,
                                envelope.aggregate_id,
                                envelope.aggregate_version
                            ),
                        ),
                        ("trace", envelope.traceparent.clone()),
                        (
                            "payload",
                            payload
                                .map(|p| format!("{} ({} bytes)", p.type_url, p.value.len()))
                                .unwrap_or_default(),
                        ),
                    ]);
                    value["envelope"] = json!({
                        "occurred_at": time(&envelope.occurred_at),
                        "producer": envelope.producer,
                        "aggregate_type": envelope.aggregate_type,
                        "aggregate_id": envelope.aggregate_id,
                        "aggregate_version": envelope.aggregate_version,
                        "traceparent": envelope.traceparent,
                        "payload_type": payload.map(|p| p.type_url.clone()),
                        "payload_bytes": payload.map(|p| p.value.len()),
                    });
                }
                Err(error) => {
                    fields.push(("envelope", format!("cannot be decoded: {error}")));
                }
            }
            Ok(Outcome::record(fields, value))
        }
        DeadLettersCommand::Replay {
            service,
            events,
            all,
        } => {
            let service = Service::from(service);
            let mut replayed = Vec::new();
            if all {
                let (_, total) = list(api, service, 1).await?;
                let mut progress = Progress::new(
                    format!("replaying {}'s dead letters", service.name()),
                    total,
                    quiet,
                );
                // Bounded by the count seen at the start: letters that die
                // again while this runs wait for the next replay instead of
                // keeping this loop busy.
                while (replayed.len() as u64) < total {
                    let left = total - replayed.len() as u64;
                    let batch =
                        i32::try_from(left.min(REPLAY_BATCH as u64)).unwrap_or(REPLAY_BATCH);
                    let ids = replay(api, service, Vec::new(), batch).await?;
                    if ids.is_empty() {
                        break;
                    }
                    progress.advance(ids.len() as u64);
                    replayed.extend(ids);
                }
                progress.finish();
            } else {
                let wanted = events.len();
                for chunk in events.chunks(REPLAY_BATCH as usize) {
                    replayed.extend(replay(api, service, chunk.to_vec(), 0).await?);
                }
                let missing: Vec<&String> =
                    events.iter().filter(|id| !replayed.contains(id)).collect();
                if !missing.is_empty() {
                    return Ok(Outcome::text(
                        format!(
                            "replayed {} of {wanted}; not in {}'s dead letters: {}",
                            replayed.len(),
                            service.name(),
                            missing
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        json!({"service": service.name(), "replayed": replayed, "missing": missing}),
                    )
                    .failing(Failure::new(
                        Kind::NotFound,
                        format!("{} dead letters not found", missing.len()),
                    )));
                }
            }
            Ok(Outcome::text(
                format!(
                    "replayed {} dead letters of {} to the queues they failed on",
                    replayed.len(),
                    service.name()
                ),
                json!({"service": service.name(), "replayed": replayed}),
            ))
        }
    }
}
