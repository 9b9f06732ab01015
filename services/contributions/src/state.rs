//! What every contributions operation works with.

use std::sync::Arc;

use inspraak_bus::Outbox;
use inspraak_kit::Clock;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::error::Result;

/// Contributions' own settings.
#[derive(Debug, Clone)]
pub struct ContributionsSettings {
    /// `MAX_PAGE_SIZE`: the most inputs, comments or follows a list page
    /// holds.
    pub max_page_size: u64,
    /// `BULK_ANSWER_MAX`: the most inputs one bulk answer may name.
    pub bulk_answer_max: u64,
    /// `DEADLINE_SCAN_INTERVAL`: how often inputs past their answer
    /// deadline and proposals past their expiry are looked for.
    pub deadline_scan_interval: std::time::Duration,
    /// `ACCOUNT_DELETION`: anonymise (default) or erase a deleted person's
    /// inputs and comments.
    pub account_deletion: crate::gdpr::DeletionPolicy,
    /// `REACTION_EVENT_WINDOW`: how long the reactions on one input gather
    /// before their counts are announced in one event.
    pub reaction_event_window: std::time::Duration,
    /// `INPUTS_PER_MINUTE`: the most inputs one person may post in a
    /// minute (flood protection).
    pub inputs_per_minute: u64,
    /// `COMMENTS_PER_MINUTE`: the most comments one person may post in a
    /// minute.
    pub comments_per_minute: u64,
}

impl ContributionsSettings {
    pub fn from_env(env: &mut inspraak_kit::Env) -> Self {
        Self {
            max_page_size: env.bounded_or("MAX_PAGE_SIZE", 100u64, 1, 1000),
            bulk_answer_max: env.bounded_or("BULK_ANSWER_MAX", 200u64, 1, 1000),
            deadline_scan_interval: env
                .duration_or("DEADLINE_SCAN_INTERVAL", std::time::Duration::from_secs(60)),
            reaction_event_window: env
                .duration_or("REACTION_EVENT_WINDOW", std::time::Duration::from_secs(5)),
            inputs_per_minute: env.bounded_or("INPUTS_PER_MINUTE", 5u64, 1, 10_000),
            comments_per_minute: env.bounded_or("COMMENTS_PER_MINUTE", 10u64, 1, 10_000),
            account_deletion: env.or(
                "ACCOUNT_DELETION",
                crate::gdpr::DeletionPolicy::Anonymise,
                "anonymise or erase",
            ),
        }
    }

    pub fn defaults() -> Self {
        Self::from_env(&mut inspraak_kit::Env::from_pairs(std::iter::empty::<(
            String,
            String,
        )>()))
    }
}

#[derive(Clone)]
pub struct State {
    pub db: DatabaseConnection,
    pub outbox: Outbox,
    pub clock: Clock,
    pub settings: Arc<ContributionsSettings>,
}

impl State {
    /// Writes a contributions event into the outbox within `txn`.
    pub async fn publish<C: ConnectionTrait, M: prost::Name>(
        &self,
        txn: &C,
        event_type: &str,
        aggregate_type: &str,
        aggregate_id: impl ToString,
        version: i64,
        payload: &M,
    ) -> Result<()> {
        self.outbox
            .record(
                txn,
                event_type,
                aggregate_type,
                &aggregate_id.to_string(),
                u64::try_from(version).unwrap_or(0),
                self.clock.now(),
                payload,
            )
            .await?;
        Ok(())
    }
}
