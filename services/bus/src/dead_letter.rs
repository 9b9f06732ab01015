//! Dead letters: events a handler gave up on, kept in `<service>.dlq` with why,
//! and the admin RPCs that list and replay them.

use chrono::{DateTime, Utc};
use inspraak_kit::auth::require_principal;
use inspraak_proto::bus::v1::dead_letters_server::DeadLetters;
use inspraak_proto::bus::v1::{
    DeadLetter, ListDeadLettersRequest, ListDeadLettersResponse, ReplayDeadLettersRequest,
    ReplayDeadLettersResponse,
};
use inspraak_proto::events::v1::Envelope;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::broker::{Broker, BrokerError, Headers, Outgoing, Peeked, Target};

const QUEUE: &str = "x-inspraak-queue";
const ERROR: &str = "x-inspraak-error";
const ATTEMPTS: &str = "x-inspraak-attempts";
const AT: &str = "x-inspraak-dead-lettered-at";
/// Headers the broker adds when it dead-letters by itself (delivery limit).
const BROKER_DEATH_QUEUE: &str = "x-first-death-queue";
const BROKER_DEATH_REASON: &str = "x-first-death-reason";

/// Why and where an event was dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterInfo {
    /// The queue whose consumer gave up; a replay goes back there.
    pub queue: String,
    pub error: String,
    pub attempts: u32,
    pub at: DateTime<Utc>,
}

/// Records `info` in a message's headers.
pub fn mark(headers: &mut Headers, info: &DeadLetterInfo) {
    // Errors can be long (a whole chain); the header keeps the start.
    let error: String = info.error.chars().take(2000).collect();
    headers.insert(QUEUE.to_owned(), info.queue.clone());
    headers.insert(ERROR.to_owned(), error);
    headers.insert(ATTEMPTS.to_owned(), info.attempts.to_string());
    headers.insert(AT.to_owned(), info.at.to_rfc3339());
}

/// Reads what [`mark`] wrote (or what the broker wrote when it dead-lettered
/// the message itself).
pub fn read(headers: &Headers) -> Option<DeadLetterInfo> {
    let queue = headers
        .get(QUEUE)
        .or_else(|| headers.get(BROKER_DEATH_QUEUE))?
        .clone();
    Some(DeadLetterInfo {
        queue,
        error: headers
            .get(ERROR)
            .or_else(|| headers.get(BROKER_DEATH_REASON))
            .cloned()
            .unwrap_or_default(),
        attempts: headers
            .get(ATTEMPTS)
            .and_then(|a| a.parse().ok())
            .unwrap_or(0),
        at: headers
            .get(AT)
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .map_or_else(Utc::now, |at| at.to_utc()),
    })
}

/// The message to publish to replay a dead letter: back into the queue that
/// failed it, without its dead-letter marks, so it gets a fresh set of
/// attempts.
pub fn replay_of(dead: &Peeked) -> Option<Outgoing> {
    let info = read(&dead.headers)?;
    let mut headers = dead.headers.clone();
    for key in [QUEUE, ERROR, ATTEMPTS, AT] {
        headers.remove(key);
    }
    headers.retain(|key, _| {
        !key.starts_with("x-death")
            && !key.starts_with("x-first-death")
            && !key.starts_with("x-last-death")
    });
    Some(Outgoing {
        target: Target::Queue(info.queue),
        routing_key: dead.routing_key.clone(),
        message_id: dead.message_id.clone(),
        headers,
        body: dead.body.clone(),
    })
}

/// The `inspraak.bus.v1.DeadLetters` service of one consuming service.
pub struct DeadLettersService {
    broker: Broker,
    dead_letter_queue: String,
}

impl DeadLettersService {
    pub fn new(broker: Broker, dead_letter_queue: impl Into<String>) -> Self {
        Self {
            broker,
            dead_letter_queue: dead_letter_queue.into(),
        }
    }
}

fn broker_status(error: BrokerError) -> Status {
    tracing::warn!(%error, "dead-letter operation failed");
    Status::unavailable("the message broker is not reachable; retry")
}

/// Only platform admins and services see and move dead letters: they hold
/// residents' content.
fn authorise<T>(request: &Request<T>) -> Result<(), Status> {
    let principal = require_principal(request)?;
    if principal.is_admin() || principal.is_service() {
        Ok(())
    } else {
        Err(Status::permission_denied(
            "dead letters are for platform admins",
        ))
    }
}

fn to_proto(dead: Peeked) -> DeadLetter {
    let info = read(&dead.headers);
    let event_type = Envelope::decode(dead.body.as_slice())
        .map(|e| e.r#type)
        .unwrap_or_else(|_| dead.routing_key.clone());
    DeadLetter {
        event_id: dead.message_id,
        event_type,
        queue: info.as_ref().map(|i| i.queue.clone()).unwrap_or_default(),
        attempts: info.as_ref().map_or(0, |i| i.attempts),
        last_error: info.as_ref().map(|i| i.error.clone()).unwrap_or_default(),
        dead_lettered_at: info.map(|i| prost_types::Timestamp {
            seconds: i.at.timestamp(),
            nanos: i32::try_from(i.at.timestamp_subsec_nanos()).unwrap_or(0),
        }),
        envelope: dead.body,
    }
}

#[tonic::async_trait]
impl DeadLetters for DeadLettersService {
    async fn list_dead_letters(
        &self,
        request: Request<ListDeadLettersRequest>,
    ) -> Result<Response<ListDeadLettersResponse>, Status> {
        authorise(&request)?;
        let page_size = match request.get_ref().page_size {
            0 => 50,
            n @ 1..=1000 => n as usize,
            _ => {
                return Err(inspraak_kit::grpc::invalid_argument(&[
                    inspraak_kit::grpc::FieldViolation::new(
                        "page_size",
                        "must be between 0 and 1000",
                    ),
                ]));
            }
        };
        let (dead, total) = match self.broker.peek(&self.dead_letter_queue, page_size).await {
            Ok(found) => found,
            // A service that consumes no events has no dead-letter queue,
            // and so no dead letters.
            Err(BrokerError::NoSuchQueue(_)) => (Vec::new(), 0),
            Err(error) => return Err(broker_status(error)),
        };
        Ok(Response::new(ListDeadLettersResponse {
            dead_letters: dead.into_iter().map(to_proto).collect(),
            total,
        }))
    }

    async fn replay_dead_letters(
        &self,
        request: Request<ReplayDeadLettersRequest>,
    ) -> Result<Response<ReplayDeadLettersResponse>, Status> {
        authorise(&request)?;
        let request = request.into_inner();
        let limit = match request.limit {
            0 => 100,
            n @ 1..=10_000 => n as usize,
            _ => {
                return Err(inspraak_kit::grpc::invalid_argument(&[
                    inspraak_kit::grpc::FieldViolation::new("limit", "must be between 0 and 10000"),
                ]));
            }
        };
        let wanted: std::collections::HashSet<String> = request.event_ids.into_iter().collect();
        let limit = if wanted.is_empty() {
            limit
        } else {
            limit.min(wanted.len())
        };
        let select = move |dead: &Peeked| {
            if wanted.is_empty() || wanted.contains(&dead.message_id) {
                replay_of(dead)
            } else {
                None
            }
        };
        let replayed = match self
            .broker
            .move_messages(&self.dead_letter_queue, limit, &select)
            .await
        {
            Ok(replayed) => replayed,
            Err(BrokerError::NoSuchQueue(_)) => Vec::new(),
            Err(error) => return Err(broker_status(error)),
        };
        tracing::info!(count = replayed.len(), "replayed dead letters");
        Ok(Response::new(ReplayDeadLettersResponse {
            replayed_event_ids: replayed,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_survive_the_round_trip_and_replay_strips_them() {
        let mut headers = Headers::from([("traceparent".to_owned(), "00-abc-def-01".to_owned())]);
        let info = DeadLetterInfo {
            queue: "notifications.events".to_owned(),
            error: "recipient unknown".to_owned(),
            attempts: 5,
            at: DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
                .unwrap()
                .to_utc(),
        };
        mark(&mut headers, &info);
        assert_eq!(read(&headers), Some(info));
        let replay = replay_of(&Peeked {
            routing_key: "contributions.input.created.v1".to_owned(),
            message_id: "e1".to_owned(),
            headers,
            body: vec![1, 2, 3],
        })
        .unwrap();
        assert_eq!(
            replay.target,
            Target::Queue("notifications.events".to_owned())
        );
        assert_eq!(replay.headers.len(), 1, "{:?}", replay.headers);
        assert_eq!(replay.routing_key, "contributions.input.created.v1");
    }
}
