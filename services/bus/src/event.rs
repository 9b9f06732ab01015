//! Building the events a service publishes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use inspraak_proto::events::v1::Envelope;
use uuid::Uuid;

/// An event type, `<service>.<aggregate>.<verb>.v<N>`; it is also the AMQP
/// routing key, so it may hold only lower-case letters, digits and `_`
/// between its dots.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventType(String);

impl EventType {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The producing service (the first segment).
    pub fn service(&self) -> &str {
        self.0.split('.').next().unwrap_or_default()
    }
}

impl FromStr for EventType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('.').collect();
        let [service, aggregate, verb, version] = parts.as_slice() else {
            return Err(format!("{s:?} is not <service>.<aggregate>.<verb>.v<N>"));
        };
        let word = |w: &str| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !(word(service) && word(aggregate) && word(verb)) {
            return Err(format!("{s:?}: segments must be lower-case words"));
        }
        match version.strip_prefix('v').map(str::parse::<u32>) {
            Some(Ok(n)) if n > 0 => Ok(Self(s.to_owned())),
            _ => Err(format!("{s:?}: the last segment must be v1, v2, ...")),
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fact about to be published: what happened, to which aggregate, and the
/// typed body.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: EventType,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub aggregate_version: u64,
    pub occurred_at: DateTime<Utc>,
    pub payload: prost_types::Any,
}

impl NewEvent {
    /// `payload` is encoded as `google.protobuf.Any` under its full proto
    /// name, e.g. `inspraak.events.v1.FeedbackPublished`.
    pub fn new<M: prost::Name>(
        event_type: EventType,
        aggregate_type: impl Into<String>,
        aggregate_id: impl Into<String>,
        aggregate_version: u64,
        occurred_at: DateTime<Utc>,
        payload: &M,
    ) -> Self {
        Self {
            event_type,
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.into(),
            aggregate_version,
            occurred_at,
            payload: prost_types::Any {
                type_url: M::type_url(),
                value: payload.encode_to_vec(),
            },
        }
    }

    /// The envelope, with a fresh UUIDv7 and the current trace context.
    pub(crate) fn into_envelope(self, producer: &str, traceparent: String) -> Envelope {
        let occurred_at = prost_types::Timestamp {
            seconds: self.occurred_at.timestamp(),
            nanos: i32::try_from(self.occurred_at.timestamp_subsec_nanos()).unwrap_or(0),
        };
        Envelope {
            event_id: Uuid::now_v7().to_string(),
            r#type: self.event_type.0,
            occurred_at: Some(occurred_at),
            producer: producer.to_owned(),
            aggregate_type: self.aggregate_type,
            aggregate_id: self.aggregate_id,
            aggregate_version: self.aggregate_version,
            traceparent,
            tracestate: String::new(),
            payload: Some(self.payload),
        }
    }
}

/// Decodes the typed body of an envelope, checking its type URL.
pub fn decode_payload<M: prost::Name + Default>(envelope: &Envelope) -> Result<M, String> {
    let any = envelope
        .payload
        .as_ref()
        .ok_or_else(|| "the envelope has no payload".to_owned())?;
    if any.type_url != M::type_url() {
        return Err(format!("expected {}, got {}", M::type_url(), any.type_url));
    }
    M::decode(any.value.as_slice()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_follow_the_routing_key_shape() {
        let t: EventType = "contributions.feedback.published.v1".parse().unwrap();
        assert_eq!(t.service(), "contributions");
        for bad in [
            "contributions.feedback.published",
            "contributions.feedback.published.v0",
            "Contributions.feedback.published.v1",
            "contributions.feedback.#.v1",
            "a..b.v1",
        ] {
            assert!(bad.parse::<EventType>().is_err(), "{bad} was accepted");
        }
    }
}
