//! Brute-force protection for logins, kept in the database so that it holds
//! however many replicas answer.
//!
//! Each attempt reserves a failure row per subject (the account, the client
//! address) before the password is checked, under a short per-subject lock,
//! and only if fewer than the limit were recorded in the past hour. A correct
//! password removes the reservation. Concurrent attempts therefore can never
//! check more passwords than the limit allows.

use chrono::Duration;
use inspraak_kit::Clock;
use sea_orm::sea_query::{LockType, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect,
};

use crate::error::{Error, Result};
use crate::store::entities::{login_failures, login_locks};

#[derive(Clone)]
pub struct Throttle {
    db: DatabaseConnection,
    clock: Clock,
    per_account: u32,
    per_client: u32,
}

/// Failure rows reserved for one attempt; released on success.
#[must_use]
pub struct Reservation {
    ids: Vec<i64>,
}

impl Throttle {
    pub fn new(db: DatabaseConnection, clock: Clock, per_account: u32, per_client: u32) -> Self {
        Self {
            db,
            clock,
            per_account,
            per_client,
        }
    }

    /// The account subject: a hash, so the table does not list addresses
    /// (including unregistered ones people typed).
    pub fn account(email: &str) -> String {
        format!("account:{}", crate::domain::secrets::hash(email))
    }

    pub fn client(address: Option<std::net::SocketAddr>) -> Option<String> {
        address.map(|a| format!("client:{}", a.ip()))
    }

    /// Reserves an attempt, or RESOURCE_EXHAUSTED when the account or the
    /// client used up its failures for the hour.
    pub async fn reserve(&self, account: &str, client: Option<&str>) -> Result<Reservation> {
        let mut subjects = vec![(account.to_owned(), self.per_account)];
        if let Some(client) = client {
            subjects.push((client.to_owned(), self.per_client));
        }
        let since = self.clock.now() - Duration::hours(1);
        let txn = inspraak_kit::db::begin_write(&self.db).await?;
        for (subject, _) in &subjects {
            login_locks::Entity::insert(login_locks::ActiveModel {
                subject: Set(subject.clone()),
            })
            .on_conflict(
                OnConflict::column(login_locks::Column::Subject)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
            // Serialises attempts on the same subject across replicas (a
            // no-op on SQLite, whose write transaction already does).
            login_locks::Entity::find_by_id(subject.clone())
                .lock(LockType::Update)
                .one(&txn)
                .await?;
        }
        for (subject, limit) in &subjects {
            let failures = login_failures::Entity::find()
                .filter(login_failures::Column::Subject.eq(subject.clone()))
                .filter(login_failures::Column::FailedAt.gt(since))
                .count(&txn)
                .await?;
            if failures >= u64::from(*limit) {
                txn.commit().await?;
                return Err(Error::ResourceExhausted(
                    "too many failed sign-ins; try again later".to_owned(),
                ));
            }
        }
        let now = self.clock.now();
        let mut ids = Vec::with_capacity(subjects.len());
        for (subject, _) in &subjects {
            let inserted = login_failures::Entity::insert(login_failures::ActiveModel {
                subject: Set(subject.clone()),
                failed_at: Set(now),
                ..Default::default()
            })
            .exec(&txn)
            .await?;
            ids.push(inserted.last_insert_id);
        }
        txn.commit().await?;
        Ok(Reservation { ids })
    }

    /// The password was right: the attempt does not count as a failure.
    pub async fn release(&self, reservation: Reservation) -> Result<()> {
        login_failures::Entity::delete_many()
            .filter(login_failures::Column::Id.is_in(reservation.ids))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Forgets failures older than an hour (run now and then).
    pub async fn prune(&self) -> Result<u64> {
        let since = self.clock.now() - Duration::hours(1);
        let result = login_failures::Entity::delete_many()
            .filter(login_failures::Column::FailedAt.lt(since))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}
