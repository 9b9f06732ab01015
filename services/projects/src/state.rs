//! What every projects operation works with.

use std::sync::Arc;
use std::time::Duration;

use inspraak_bus::Outbox;
use inspraak_kit::Clock;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::error::Result;
use crate::views::PartsCache;

/// Projects' own settings.
#[derive(Debug, Clone)]
pub struct ProjectsSettings {
    /// `PHASE_ENDING_SOON_LEAD`: how long before a phase ends its followers
    /// are reminded.
    pub ending_soon_lead: Duration,
    /// `MILESTONE_APPROACHING_LEAD`
    pub milestone_lead: Duration,
    /// `SCHEDULER_INTERVAL`: how often time-driven events are looked for.
    pub scheduler_interval: Duration,
    /// `PROJECT_VIEW_CACHE`: projects whose phases, milestones and team a
    /// replica keeps for reads (0: none; see `views`).
    pub view_cache: usize,
    /// `PROJECT_VIEW_MAX_AGE`: how long a replica answers from a project's
    /// row it read (0: reads it on every call; see `views`).
    pub view_max_age: Duration,
}

impl ProjectsSettings {
    pub fn from_env(env: &mut inspraak_kit::Env) -> Self {
        Self {
            ending_soon_lead: env
                .duration_or("PHASE_ENDING_SOON_LEAD", Duration::from_secs(48 * 3600)),
            milestone_lead: env.duration_or(
                "MILESTONE_APPROACHING_LEAD",
                Duration::from_secs(7 * 24 * 3600),
            ),
            scheduler_interval: env.duration_or("SCHEDULER_INTERVAL", Duration::from_secs(30)),
            view_cache: env.or(
                "PROJECT_VIEW_CACHE",
                PartsCache::DEFAULT_CAPACITY,
                "a number of projects",
            ),
            view_max_age: env.duration_or("PROJECT_VIEW_MAX_AGE", PartsCache::DEFAULT_MAX_AGE),
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
    pub settings: Arc<ProjectsSettings>,
    /// Shared by every handler of this process.
    pub views: Arc<PartsCache>,
}

impl State {
    /// Writes a projects event into the outbox within `txn`.
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
