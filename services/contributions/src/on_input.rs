//! An input with everything an action on it is checked against — its
//! project and phase in the projection, the caller's block, the caller's
//! place on the project's team — read in one statement. Read one by one
//! they were five round trips inside the write transaction of a reaction,
//! the write that arrives by the thousand when a popular vote opens.
//!
//! The decisions are the ones [`crate::inputs::visible`],
//! [`crate::reactions::open_phase`] and [`Caller`] make when they read for
//! themselves; only the reading is shared. It also says whether the caller
//! is counted among the participants already, which spares a returning
//! participant the statement that would find so.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Query, SelectStatement};
use sea_orm::{
    ConnectionTrait, EntityTrait, FromQueryResult, IdenStatic, Iterable, QueryResult, TryGetable,
};
use uuid::Uuid;

use crate::access::{Caller, MANAGER};
use crate::error::{Error, Result};
use crate::inputs::withheld_from;
use crate::reactions::phase_open;
use crate::store::entities::{
    blocked_people, inputs, participants, projected_phases, projected_projects, projected_team,
};

/// An input the caller may see, with what an action on it needs to know.
pub struct OnInput {
    pub input: inputs::Model,
    /// The input's phase in its project, if it is still part of it.
    phase: Option<projected_phases::Model>,
    /// A platform admin or one of the project's managers.
    manager: bool,
    /// Whether the caller is counted already as a participant of the
    /// project's statistics row and of the phase's (see
    /// [`counters::participant_where_unknown`]).
    pub participant: [bool; 2],
}

impl OnInput {
    /// Input `id` and its surroundings, for the signed-in `caller`: refused
    /// as [`Caller::ensure_may_contribute`] does, then NOT_FOUND as
    /// [`crate::inputs::visible`] is.
    pub async fn read<C: ConnectionTrait>(
        db: &C,
        caller: &Caller<'_>,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let subject = caller.principal()?.subject.as_str();
        let Some(row) = db.query_one(&query(subject, id)).await? else {
            // No input: a blocked caller still hears first that they are.
            caller.ensure_may_contribute(db, now).await?;
            return Err(Error::NotFound("input"));
        };
        let input = inputs::Model::from_query_result(&row, "i_")?;
        let project = joined::<projected_projects::Model, Uuid>(&row, "p_", "id")?;
        let phase = joined::<projected_phases::Model, Uuid>(&row, "ph_", "id")?;
        let block = joined::<blocked_people::Model, String>(&row, "b_", "user_id")?;
        let on_team: bool = row.try_get("", "on_team")?;
        let manager = caller.is_admin() || row.try_get::<bool>("", "manager")?;
        let participant = [
            row.try_get("", "known_to_project")?,
            row.try_get("", "known_to_phase")?,
        ];
        Caller::unblocked(block.as_ref(), now)?;
        let visible = project.is_some_and(|project| caller.may_see_as(&project, on_team))
            && !(withheld_from(caller, &input) && !caller.is_admin() && !on_team);
        if !visible {
            return Err(Error::NotFound("input"));
        }
        Ok(Self {
            input,
            phase,
            manager,
            participant,
        })
    }

    /// The input's phase, refused unless it is open at `now`.
    pub fn open_phase(&self, now: DateTime<Utc>) -> Result<projected_phases::Model> {
        phase_open(self.phase.clone(), now)
    }

    /// Refuses unless the caller meets `permission` for `action`, as
    /// [`Caller::ensure_permitted`] does.
    pub fn permitted(&self, caller: &Caller<'_>, permission: &str, action: &str) -> Result<()> {
        caller.permitted(permission, action, self.manager)
    }
}

/// The one statement: the input (not deleted), its project and phase and
/// the caller's block joined when they exist, and whether the caller is on
/// the project's team and among its managers.
fn query(subject: &str, id: Uuid) -> SelectStatement {
    let (i, p, ph, b) = (
        Alias::new("i"),
        Alias::new("p"),
        Alias::new("ph"),
        Alias::new("b"),
    );
    let mut q = Query::select();
    q.from_as(inputs::Entity, i.clone());
    columns::<inputs::Entity>(&mut q, &i, "i_");
    columns::<projected_projects::Entity>(&mut q, &p, "p_");
    columns::<projected_phases::Entity>(&mut q, &ph, "ph_");
    columns::<blocked_people::Entity>(&mut q, &b, "b_");
    q.join_as(
        JoinType::LeftJoin,
        projected_projects::Entity,
        p.clone(),
        Expr::col((p.clone(), projected_projects::Column::Id))
            .equals((i.clone(), inputs::Column::ProjectId)),
    )
    .join_as(
        JoinType::LeftJoin,
        projected_phases::Entity,
        ph.clone(),
        Expr::col((ph.clone(), projected_phases::Column::Id))
            .equals((i.clone(), inputs::Column::PhaseId))
            .and(
                Expr::col((ph.clone(), projected_phases::Column::ProjectId))
                    .equals((i.clone(), inputs::Column::ProjectId)),
            ),
    )
    .join_as(
        JoinType::LeftJoin,
        blocked_people::Entity,
        b.clone(),
        Expr::col((b, blocked_people::Column::UserId)).eq(subject),
    )
    .expr_as(Expr::exists(team(&i, subject, None)), Alias::new("on_team"))
    .expr_as(
        Expr::exists(team(&i, subject, Some(MANAGER))),
        Alias::new("manager"),
    )
    .expr_as(
        Expr::exists(participant(&i, subject, None)),
        Alias::new("known_to_project"),
    )
    .expr_as(
        Expr::exists(participant(&i, subject, Some(inputs::Column::PhaseId))),
        Alias::new("known_to_phase"),
    )
    .and_where(Expr::col((i.clone(), inputs::Column::Id)).eq(id))
    .and_where(Expr::col((i, inputs::Column::DeletedAt)).is_null());
    q
}

/// Every column of `E` from `table`, named `prefix` + the column's name.
fn columns<E: EntityTrait>(q: &mut SelectStatement, table: &Alias, prefix: &str) {
    for column in E::Column::iter() {
        q.expr_as(
            Expr::col((table.clone(), column)),
            Alias::new(format!("{prefix}{}", column.as_str())),
        );
    }
}

/// The caller's rows on the team of the input (`i`)'s project, of `role`
/// when given.
fn team(i: &Alias, subject: &str, role: Option<&str>) -> SelectStatement {
    let mut q = Query::select();
    q.expr(Expr::val(1))
        .from(projected_team::Entity)
        .and_where(
            Expr::col((projected_team::Entity, projected_team::Column::ProjectId))
                .equals((i.clone(), inputs::Column::ProjectId)),
        )
        .and_where(Expr::col((projected_team::Entity, projected_team::Column::UserId)).eq(subject));
    if let Some(role) = role {
        q.and_where(Expr::col((projected_team::Entity, projected_team::Column::Role)).eq(role));
    }
    q
}

/// The caller's row among the participants of the input (`i`)'s project
/// (`phase`: `None` for the project's own row, the input's column naming
/// its phase otherwise).
fn participant(i: &Alias, subject: &str, phase: Option<inputs::Column>) -> SelectStatement {
    use participants::Column;
    let mut q = Query::select();
    q.expr(Expr::val(1))
        .from(participants::Entity)
        .and_where(
            Expr::col((participants::Entity, Column::ProjectId))
                .equals((i.clone(), inputs::Column::ProjectId)),
        )
        .and_where(Expr::col((participants::Entity, Column::UserId)).eq(subject));
    match phase {
        Some(column) => q.and_where(
            Expr::col((participants::Entity, Column::PhaseId)).equals((i.clone(), column)),
        ),
        None => q.and_where(Expr::col((participants::Entity, Column::PhaseId)).eq(Uuid::nil())),
    };
    q
}

/// The model joined under `prefix`, or `None` where the left join found no
/// row (its key, never NULL in the table, is NULL).
fn joined<M: FromQueryResult, K: TryGetable>(
    row: &QueryResult,
    prefix: &str,
    key: &str,
) -> Result<Option<M>> {
    if row.try_get::<Option<K>>(prefix, key)?.is_none() {
        return Ok(None);
    }
    Ok(Some(M::from_query_result(row, prefix)?))
}
