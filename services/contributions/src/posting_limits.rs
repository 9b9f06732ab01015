//! Flood protection: how many inputs and comments one person may post per
//! minute (`INPUTS_PER_MINUTE`, `COMMENTS_PER_MINUTE`). Beyond it the post is
//! refused with RESOURCE_EXHAUSTED and nothing is stored.
//!
//! The count is read from the posts themselves (an index on author and
//! time), so every replica sees the same figure; on PostgreSQL a
//! per-person advisory lock held to the end of the writing transaction
//! makes concurrent posts of one person take turns, so the limit is exact
//! (SQLite's single writer does that already).

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Statement,
};

use crate::error::{Error, Result};
use crate::store::discussion::comments;
use crate::store::entities::inputs;

/// What a person posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posting {
    Input,
    Comment,
}

impl Posting {
    fn noun(self) -> &'static str {
        match self {
            Self::Input => "inputs",
            Self::Comment => "comments",
        }
    }
}

/// The window the limits count in.
const WINDOW: Duration = Duration::minutes(1);

/// Refuses the post when `author` already posted `limit` of this kind in
/// the last minute. Call inside the transaction that stores the post.
pub async fn ensure_within(
    txn: &DatabaseTransaction,
    posting: Posting,
    author: &str,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<()> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [format!("inspraak.contributions.posting.{author}").into()],
        ))
        .await?;
    }
    let since = now - WINDOW;
    let recent = match posting {
        Posting::Input => {
            inputs::Entity::find()
                .filter(inputs::Column::AuthorId.eq(author))
                .filter(inputs::Column::CreatedAt.gt(since))
                .count(txn)
                .await?
        }
        Posting::Comment => {
            comments::Entity::find()
                .filter(comments::Column::AuthorId.eq(author))
                .filter(comments::Column::CreatedAt.gt(since))
                .count(txn)
                .await?
        }
    };
    if recent >= limit {
        return Err(Error::ResourceExhausted(format!(
            "at most {limit} {} a minute per person; try again in a minute",
            posting.noun()
        )));
    }
    Ok(())
}
