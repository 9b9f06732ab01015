//! The parts of a project view that are not the project's own row — its
//! phases, milestones and team — cached by the project's version.
//!
//! Every change to those parts goes through `projects::save_and_publish`,
//! which bumps the project's version in the same transaction (phases,
//! milestones and team are only ever written there, or with a new project).
//! So a read still fetches the project row — it carries the version, and
//! the state and visibility a caller's access depends on — but takes the
//! rest from here when the version matches: one round trip instead of four,
//! and never staler than the row it was read with, on every replica alike.
//! Columns no view shows (a phase's `has_input`, the scheduler's
//! announcement stamps) change without a new version, which is why they are
//! not part of what is cached for the view's sake.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::error::Result;
use crate::store::entities::{milestones, phases, project_team, projects};

/// A project's phases (by start), milestones (by time) and team (by user).
#[derive(Debug, Default)]
pub struct Parts {
    pub phases: Vec<phases::Model>,
    pub milestones: Vec<milestones::Model>,
    pub team: Vec<project_team::Model>,
}

impl Parts {
    /// The roles `subject` holds in the project.
    pub fn roles_of<'a>(&'a self, subject: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.team
            .iter()
            .filter(move |member| member.user_id == subject)
            .map(|member| member.role.as_str())
    }
}

/// The parts of several projects, in three queries whatever their number
/// (a page of projects is not N+1 reads).
pub async fn load<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> Result<HashMap<Uuid, Parts>> {
    let mut parts: HashMap<Uuid, Parts> = ids.iter().map(|id| (*id, Parts::default())).collect();
    let phases = phases::Entity::find()
        .filter(phases::Column::ProjectId.is_in(ids.to_vec()))
        .order_by_asc(phases::Column::StartsAt)
        .all(db)
        .await?;
    for phase in phases {
        if let Some(own) = parts.get_mut(&phase.project_id) {
            own.phases.push(phase);
        }
    }
    let milestones = milestones::Entity::find()
        .filter(milestones::Column::ProjectId.is_in(ids.to_vec()))
        .order_by_asc(milestones::Column::At)
        .all(db)
        .await?;
    for milestone in milestones {
        if let Some(own) = parts.get_mut(&milestone.project_id) {
            own.milestones.push(milestone);
        }
    }
    let team = project_team::Entity::find()
        .filter(project_team::Column::ProjectId.is_in(ids.to_vec()))
        .order_by_asc(project_team::Column::UserId)
        .all(db)
        .await?;
    for member in team {
        if let Some(own) = parts.get_mut(&member.project_id) {
            own.team.push(member);
        }
    }
    Ok(parts)
}

/// Projects' parts by (id, version), at most `capacity` projects.
pub struct PartsCache {
    entries: Mutex<HashMap<Uuid, (i64, Arc<Parts>)>>,
    capacity: usize,
}

impl PartsCache {
    /// A city has hundreds of projects, not thousands: the bound only keeps
    /// a flood of distinct ids from growing the cache without end.
    pub const DEFAULT_CAPACITY: usize = 4096;

    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// `project`'s parts at its version, from the cache or the database.
    pub async fn parts<C: ConnectionTrait>(
        &self,
        db: &C,
        project: &projects::Model,
    ) -> Result<Arc<Parts>> {
        if let Some(parts) = self.cached(project) {
            return Ok(parts);
        }
        let parts = Arc::new(
            load(db, &[project.id])
                .await?
                .remove(&project.id)
                .unwrap_or_default(),
        );
        self.keep(project, parts.clone());
        Ok(parts)
    }

    fn cached(&self, project: &projects::Model) -> Option<Arc<Parts>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&project.id)
            .filter(|(version, _)| *version == project.version)
            .map(|(_, parts)| parts.clone())
    }

    fn keep(&self, project: &projects::Model, parts: Arc<Parts>) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // A slower reader of an older version must not replace a newer one.
        if entries
            .get(&project.id)
            .is_some_and(|(version, _)| *version > project.version)
        {
            return;
        }
        if entries.len() >= self.capacity && !entries.contains_key(&project.id) {
            let evicted = entries.keys().next().copied();
            if let Some(evicted) = evicted {
                entries.remove(&evicted);
            }
        }
        entries.insert(project.id, (project.version, parts));
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn project(version: i64) -> projects::Model {
        let now = Utc::now();
        projects::Model {
            id: Uuid::nil(),
            title: serde_json::json!({}),
            description: serde_json::json!({}),
            state: "draft".to_owned(),
            visibility: "public".to_owned(),
            folder_id: None,
            department_id: String::new(),
            topics: serde_json::json!([]),
            proposal_id: None,
            published_at: None,
            prescreening: false,
            has_input: false,
            version,
            created_at: now,
            updated_at: now,
        }
    }

    fn parts_with_phases(n: usize) -> Arc<Parts> {
        Arc::new(Parts {
            phases: Vec::with_capacity(n),
            ..Parts::default()
        })
    }

    #[test]
    fn serves_only_the_version_it_was_read_at() {
        let cache = PartsCache::new(8);
        let parts = parts_with_phases(1);
        cache.keep(&project(3), parts.clone());
        assert!(
            cache
                .cached(&project(3))
                .is_some_and(|p| Arc::ptr_eq(&p, &parts))
        );
        assert!(
            cache.cached(&project(4)).is_none(),
            "a newer version misses"
        );
        assert!(
            cache.cached(&project(2)).is_none(),
            "an older version misses"
        );
    }

    #[test]
    fn an_older_read_does_not_replace_a_newer_one() {
        let cache = PartsCache::new(8);
        let newer = parts_with_phases(2);
        cache.keep(&project(5), newer.clone());
        cache.keep(&project(4), parts_with_phases(1));
        assert!(
            cache
                .cached(&project(5))
                .is_some_and(|p| Arc::ptr_eq(&p, &newer))
        );
        assert!(cache.cached(&project(4)).is_none());
    }

    #[test]
    fn holds_at_most_its_capacity_and_none_at_zero() {
        let cache = PartsCache::new(2);
        for _ in 0..10 {
            let mut p = project(1);
            p.id = Uuid::now_v7();
            cache.keep(&p, parts_with_phases(0));
        }
        assert_eq!(cache.entries.lock().map(|e| e.len()).unwrap_or(0), 2);
        let off = PartsCache::new(0);
        off.keep(&project(1), parts_with_phases(0));
        assert!(off.cached(&project(1)).is_none());
    }
}
