//! Time-driven events: phase started, ending soon, ended; milestone
//! approaching. Derived from the database on every tick, not from timers in
//! memory: each is claimed by a conditional update of its "announced" column
//! in the transaction that writes the event, so it happens exactly once
//! however many replicas tick and however often the service restarts.

use chrono::{DateTime, Utc};
use inspraak_proto::events::v1 as events;
use sea_orm::ExprTrait;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter};
use tokio_util::sync::CancellationToken;

use crate::domain::timestamp;
use crate::error::Result;
use crate::projects::{PUBLISHED, milestone_proto, phase_proto};
use crate::state::State;
use crate::store::entities::{milestones, phases, projects};

#[derive(Clone, Copy)]
enum PhaseMoment {
    Started,
    EndingSoon,
    Ended,
}

impl PhaseMoment {
    fn event_type(self) -> &'static str {
        match self {
            Self::Started => "projects.phase.started.v1",
            Self::EndingSoon => "projects.phase.ending_soon.v1",
            Self::Ended => "projects.phase.ended.v1",
        }
    }

    fn column(self) -> phases::Column {
        match self {
            Self::Started => phases::Column::StartedAnnouncedAt,
            Self::EndingSoon => phases::Column::EndingSoonAnnouncedAt,
            Self::Ended => phases::Column::EndedAnnouncedAt,
        }
    }
}

fn published_projects() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(projects::Column::Id)
        .from(projects::Entity)
        .and_where(Expr::col(projects::Column::State).eq(PUBLISHED))
        .to_owned()
}

/// Writes every time-driven event that is due; returns how many.
pub async fn tick(state: &State) -> Result<usize> {
    let now = state.clock.now();
    let lead = chrono::Duration::from_std(state.settings.ending_soon_lead)
        .unwrap_or(chrono::Duration::hours(48));
    let milestone_lead = chrono::Duration::from_std(state.settings.milestone_lead)
        .unwrap_or(chrono::Duration::days(7));
    let mut written = 0;

    let due = [
        (
            PhaseMoment::Started,
            Condition::all().add(phases::Column::StartsAt.lte(now)),
        ),
        (
            PhaseMoment::EndingSoon,
            Condition::all()
                .add(phases::Column::EndsAt.is_not_null())
                .add(phases::Column::EndsAt.lte(now + lead))
                .add(phases::Column::EndsAt.gt(now))
                .add(phases::Column::StartsAt.lte(now)),
        ),
        (
            PhaseMoment::Ended,
            Condition::all()
                .add(phases::Column::EndsAt.is_not_null())
                .add(phases::Column::EndsAt.lte(now)),
        ),
    ];
    for (moment, condition) in due {
        let candidates = phases::Entity::find()
            .filter(condition)
            .filter(moment.column().is_null())
            .filter(phases::Column::ProjectId.in_subquery(published_projects()))
            .all(&state.db)
            .await?;
        for phase in candidates {
            let txn = inspraak_kit::db::begin_write(&state.db).await?;
            if claim_phase(&txn, &phase, moment, now).await? {
                state
                    .publish(
                        &txn,
                        moment.event_type(),
                        "project",
                        phase.project_id,
                        0,
                        &events::PhaseTimeReached {
                            project_id: phase.project_id.to_string(),
                            phase: Some(phase_proto(&phase)),
                            at: Some(timestamp(match moment {
                                PhaseMoment::Started => phase.starts_at,
                                _ => phase.ends_at.unwrap_or(now),
                            })),
                        },
                    )
                    .await?;
                written += 1;
            }
            state.outbox.commit(txn).await?;
        }
    }

    let approaching = milestones::Entity::find()
        .filter(milestones::Column::At.lte(now + milestone_lead))
        .filter(milestones::Column::At.gt(now))
        .filter(milestones::Column::ApproachingAnnouncedAt.is_null())
        .filter(milestones::Column::ProjectId.in_subquery(published_projects()))
        .all(&state.db)
        .await?;
    for milestone in approaching {
        let txn = inspraak_kit::db::begin_write(&state.db).await?;
        let claimed = milestones::Entity::update_many()
            .col_expr(milestones::Column::ApproachingAnnouncedAt, Expr::value(now))
            .filter(milestones::Column::Id.eq(milestone.id))
            .filter(milestones::Column::ApproachingAnnouncedAt.is_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 1 {
            state
                .publish(
                    &txn,
                    "projects.milestone.approaching.v1",
                    "project",
                    milestone.project_id,
                    0,
                    &events::MilestoneApproaching {
                        project_id: milestone.project_id.to_string(),
                        milestone: Some(milestone_proto(&milestone)),
                    },
                )
                .await?;
            written += 1;
        }
        state.outbox.commit(txn).await?;
    }
    Ok(written)
}

/// Claims one phase moment; false if another replica got there first.
async fn claim_phase(
    txn: &DatabaseTransaction,
    phase: &phases::Model,
    moment: PhaseMoment,
    now: DateTime<Utc>,
) -> Result<bool> {
    let claimed = phases::Entity::update_many()
        .col_expr(moment.column(), Expr::value(now))
        .filter(phases::Column::Id.eq(phase.id))
        .filter(moment.column().is_null())
        .exec(txn)
        .await?;
    Ok(claimed.rows_affected == 1)
}

/// Ticks every interval until `shutdown`.
/// Active projects (published, a phase still to end), as last counted: the
/// platform dashboard's gauge `inspraak.projects.active` reads it.
static ACTIVE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts the active projects: a handful of published projects and their
/// phases, once per tick.
pub async fn count_active(state: &State) -> Result<u64> {
    let now = state.clock.now();
    let published = projects::Entity::find()
        .filter(projects::Column::State.eq(PUBLISHED))
        .all(&state.db)
        .await?;
    let ids: Vec<uuid::Uuid> = published.iter().map(|p| p.id).collect();
    let all_phases = phases::Entity::find()
        .filter(phases::Column::ProjectId.is_in(ids))
        .all(&state.db)
        .await?;
    let active = published
        .iter()
        .filter(|project| {
            let own: Vec<phases::Model> = all_phases
                .iter()
                .filter(|p| p.project_id == project.id)
                .cloned()
                .collect();
            crate::projects::is_active(project, &own, now)
        })
        .count();
    Ok(active as u64)
}

fn register_active_gauge() {
    // Kept for the process's life: the callback lives with the instrument.
    static GAUGE: std::sync::OnceLock<opentelemetry::metrics::ObservableGauge<u64>> =
        std::sync::OnceLock::new();
    GAUGE.get_or_init(|| {
        opentelemetry::global::meter("inspraak-projects")
            .u64_observable_gauge("inspraak.projects.active")
            .with_description("Projects published with a phase still to end")
            .with_callback(|observer| {
                observer.observe(ACTIVE.load(std::sync::atomic::Ordering::Relaxed), &[]);
            })
            .build()
    });
}

pub async fn run(state: State, shutdown: CancellationToken) {
    register_active_gauge();
    loop {
        match count_active(&state).await {
            Ok(active) => ACTIVE.store(active, std::sync::atomic::Ordering::Relaxed),
            Err(error) => tracing::warn!(%error, "counting active projects failed"),
        }
        match tick(&state).await {
            Ok(0) => {}
            Ok(written) => tracing::info!(written, "time-driven events written"),
            Err(error) => tracing::warn!(%error, "the scheduler's tick failed; it tries again"),
        }
        tokio::select! {
            () = tokio::time::sleep(state.settings.scheduler_interval) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
