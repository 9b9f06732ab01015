//! What a project view is read from, kept in memory: the project's row for
//! a short while (`PROJECT_VIEW_MAX_AGE`), and its phases, milestones and
//! team by the project's version.
//!
//! Every change to a project goes through `projects::save_and_publish`,
//! which bumps the project's version in the same transaction (phases,
//! milestones and team are only ever written there, or with a new project)
//! and tells this replica's cache to forget the row. So on the replica that
//! made a change, the next read sees it; another replica reads the row again
//! once its copy is older than the max age, and with the row's version takes
//! the parts from here when they match, or reads them too. A project view is
//! therefore never older than the max age on any replica (1 s by default;
//! 0 reads the row on every call), the same bound as a project list read a
//! moment earlier — and no looser than the access tokens a caller's roles
//! come from, which live for minutes.
//! Columns no view shows (`has_input`, a phase's `has_input`, the
//! scheduler's announcement stamps) change without a new version, which is
//! why they are not part of what is cached for the view's sake.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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

/// A project's row as this replica knows it.
enum Kept {
    /// Read from the database at that instant (when the read began).
    Row(Arc<projects::Model>, Instant),
    /// Changed by this replica at that instant: rows read before then are
    /// not kept.
    Changed(Instant),
}

/// Projects' rows (for `max_age`) and parts by (id, version), at most
/// `capacity` projects each.
pub struct PartsCache {
    entries: Mutex<HashMap<Uuid, (i64, Arc<Parts>)>>,
    rows: Mutex<HashMap<Uuid, Kept>>,
    capacity: usize,
    max_age: Duration,
}

impl PartsCache {
    /// A city has hundreds of projects, not thousands: the bound only keeps
    /// a flood of distinct ids from growing the cache without end.
    pub const DEFAULT_CAPACITY: usize = 4096;
    /// How long a replica answers from a project's row it read.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(1);

    pub fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            rows: Mutex::new(HashMap::new()),
            capacity,
            max_age,
        }
    }

    /// Project `id`'s row: kept if this replica read it within the max age
    /// (and changed it not since), else from the database.
    pub async fn row<C: ConnectionTrait>(
        &self,
        db: &C,
        id: Uuid,
    ) -> Result<Option<Arc<projects::Model>>> {
        if let Some(row) = self.fresh_row(id) {
            return Ok(Some(row));
        }
        let read_at = Instant::now();
        let Some(row) = projects::Entity::find_by_id(id).one(db).await? else {
            return Ok(None);
        };
        let row = Arc::new(row);
        self.keep_row(&row, read_at);
        Ok(Some(row))
    }

    /// Forgets project `id`'s row: this replica just changed it. A read
    /// that began before now and ends after will not be kept either.
    pub fn forget(&self, id: Uuid) {
        self.rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Kept::Changed(Instant::now()));
    }

    fn fresh_row(&self, id: Uuid) -> Option<Arc<projects::Model>> {
        let rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        match rows.get(&id) {
            Some(Kept::Row(row, read_at)) if read_at.elapsed() < self.max_age => Some(row.clone()),
            _ => None,
        }
    }

    /// `read_at` is when the read began: a write that committed while it was
    /// under way may be missing from it, and the max age counts from there.
    fn keep_row(&self, row: &Arc<projects::Model>, read_at: Instant) {
        if self.capacity == 0 || self.max_age.is_zero() {
            return;
        }
        let mut rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        let newer = match rows.get(&row.id) {
            Some(Kept::Row(kept, _)) => kept.version > row.version,
            Some(Kept::Changed(at)) => *at >= read_at,
            None => false,
        };
        if newer {
            return;
        }
        if rows.len() >= self.capacity && !rows.contains_key(&row.id) {
            let max_age = self.max_age;
            rows.retain(|_, kept| match kept {
                Kept::Row(_, at) | Kept::Changed(at) => at.elapsed() < max_age,
            });
            if rows.len() >= self.capacity {
                rows.clear();
            }
        }
        rows.insert(row.id, Kept::Row(row.clone(), read_at));
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
        let cache = PartsCache::new(8, PartsCache::DEFAULT_MAX_AGE);
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
        let cache = PartsCache::new(8, PartsCache::DEFAULT_MAX_AGE);
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
        let cache = PartsCache::new(2, PartsCache::DEFAULT_MAX_AGE);
        for _ in 0..10 {
            let mut p = project(1);
            p.id = Uuid::now_v7();
            cache.keep(&p, parts_with_phases(0));
        }
        assert_eq!(cache.entries.lock().map(|e| e.len()).unwrap_or(0), 2);
        let off = PartsCache::new(0, PartsCache::DEFAULT_MAX_AGE);
        off.keep(&project(1), parts_with_phases(0));
        assert!(off.cached(&project(1)).is_none());
    }

    #[test]
    fn a_row_is_kept_for_the_max_age_and_forgotten_when_changed_here() {
        let cache = PartsCache::new(8, Duration::from_millis(200));
        let row = Arc::new(project(3));
        cache.keep_row(&row, Instant::now());
        assert!(cache.fresh_row(row.id).is_some_and(|r| r.version == 3));
        cache.forget(row.id);
        assert!(
            cache.fresh_row(row.id).is_none(),
            "changed here: read again"
        );
        // A read that began before the change and ended after it is not kept.
        let began = Instant::now() - Duration::from_millis(5);
        cache.forget(row.id);
        cache.keep_row(&row, began);
        assert!(
            cache.fresh_row(row.id).is_none(),
            "a read older than the change was kept"
        );
        // One that began after it is, until the max age has passed.
        cache.keep_row(&Arc::new(project(4)), Instant::now());
        assert!(cache.fresh_row(row.id).is_some_and(|r| r.version == 4));
        std::thread::sleep(Duration::from_millis(210));
        assert!(cache.fresh_row(row.id).is_none(), "kept past the max age");
        let off = PartsCache::new(8, Duration::ZERO);
        off.keep_row(&row, Instant::now());
        assert!(
            off.fresh_row(row.id).is_none(),
            "a max age of 0 keeps nothing"
        );
    }
}
