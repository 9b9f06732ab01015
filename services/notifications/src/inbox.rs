//! The in-app inbox: a person's notifications, newest first, read and
//! marked by that person only, and pushed live to their open streams.

use std::pin::Pin;
use std::time::Duration as StdDuration;

use futures_util::Stream;
use inspraak_kit::auth::Principal;
use inspraak_proto::notifications::v1 as proto;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::category::Category;
use crate::error::{Error, Result};
use crate::state::State;
use crate::store::entities::notifications;

const MAX_PAGE: u64 = 100;

use inspraak_kit::clock::timestamp;

pub fn to_proto(row: &notifications::Model) -> proto::Notification {
    proto::Notification {
        id: row.id.to_string(),
        kind: row.kind.clone(),
        category: Category::from_name(&row.category).map_or(0, |c| c.wire() as i32),
        title: row.title.clone(),
        body: row.body.clone(),
        project_id: row.project_id.map(|p| p.to_string()).unwrap_or_default(),
        input_id: row.input_id.map(|i| i.to_string()).unwrap_or_default(),
        created_at: Some(timestamp(row.created_at)),
        read: row.read_at.is_some(),
    }
}

pub fn me(principal: Option<&Principal>) -> Result<String> {
    principal
        .map(|p| p.subject.clone())
        .ok_or_else(|| Error::Unauthenticated("sign in first".to_owned()))
}

pub async fn list(
    state: &State,
    me: &str,
    request: &proto::ListNotificationsRequest,
) -> Result<proto::ListNotificationsResponse> {
    let size = match request.page_size {
        0 => 20,
        n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
        n => u64::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE),
    };
    let mut query = notifications::Entity::find()
        .filter(notifications::Column::UserId.eq(me))
        .order_by_desc(notifications::Column::Id);
    if request.unread_only {
        query = query.filter(notifications::Column::ReadAt.is_null());
    }
    if !request.page_token.is_empty() {
        let after = Uuid::parse_str(&request.page_token)
            .map_err(|_| Error::invalid("page_token", "is not a token of this list"))?;
        query = query.filter(notifications::Column::Id.lt(after));
    }
    let rows = query.limit(size + 1).all(&state.db).await?;
    let more = rows.len() as u64 > size;
    let page: Vec<&notifications::Model> = rows
        .iter()
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .collect();
    Ok(proto::ListNotificationsResponse {
        next_page_token: match (more, page.last()) {
            (true, Some(last)) => last.id.to_string(),
            _ => String::new(),
        },
        notifications: page.into_iter().map(to_proto).collect(),
    })
}

pub async fn unread(state: &State, me: &str) -> Result<proto::UnreadCount> {
    let unread = notifications::Entity::find()
        .filter(notifications::Column::UserId.eq(me))
        .filter(notifications::Column::ReadAt.is_null())
        .count(&state.db)
        .await?;
    Ok(proto::UnreadCount {
        unread: i64::try_from(unread).unwrap_or(i64::MAX),
    })
}

pub async fn mark_read(
    state: &State,
    me: &str,
    request: &proto::MarkReadRequest,
) -> Result<proto::MarkReadResponse> {
    if request.ids.is_empty() {
        return Err(Error::invalid("ids", "name at least one notification"));
    }
    if request.ids.len() > 500 {
        return Err(Error::invalid("ids", "at most 500 per call"));
    }
    let mut ids = Vec::with_capacity(request.ids.len());
    for (i, raw) in request.ids.iter().enumerate() {
        ids.push(
            Uuid::parse_str(raw.trim())
                .map_err(|_| Error::invalid(&format!("ids[{i}]"), "is not an id"))?,
        );
    }
    ids.sort_unstable();
    ids.dedup();
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    // Someone else's id is as unknown as a made-up one, and nothing is
    // marked then.
    let mine = notifications::Entity::find()
        .filter(notifications::Column::UserId.eq(me))
        .filter(notifications::Column::Id.is_in(ids.clone()))
        .count(&txn)
        .await?;
    if mine != ids.len() as u64 {
        return Err(Error::NotFound("notification"));
    }
    let marked = notifications::Entity::update_many()
        .col_expr(
            notifications::Column::ReadAt,
            Expr::value(state.clock.now()),
        )
        .filter(notifications::Column::UserId.eq(me))
        .filter(notifications::Column::Id.is_in(ids))
        .filter(notifications::Column::ReadAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(proto::MarkReadResponse {
        marked: i64::try_from(marked).unwrap_or(i64::MAX),
    })
}

pub async fn mark_all_read(state: &State, me: &str) -> Result<proto::MarkReadResponse> {
    let marked = notifications::Entity::update_many()
        .col_expr(
            notifications::Column::ReadAt,
            Expr::value(state.clock.now()),
        )
        .filter(notifications::Column::UserId.eq(me))
        .filter(notifications::Column::ReadAt.is_null())
        .exec(&state.db)
        .await?
        .rows_affected;
    Ok(proto::MarkReadResponse {
        marked: i64::try_from(marked).unwrap_or(i64::MAX),
    })
}

pub type NotificationStream =
    Pin<Box<dyn Stream<Item = std::result::Result<proto::Notification, tonic::Status>> + Send>>;

/// How often an open stream looks for new rows even without a wake-up
/// (those written by another replica, or woken before their commit).
const STREAM_POLL: StdDuration = StdDuration::from_millis(500);

/// New notifications of `me` from now on, until the client hangs up.
pub async fn stream(state: State, me: String) -> Result<NotificationStream> {
    // Starting after the newest row now: only what is new is pushed.
    let newest = notifications::Entity::find()
        .filter(notifications::Column::UserId.eq(&me))
        .order_by_desc(notifications::Column::Id)
        .one(&state.db)
        .await?
        .map(|n| n.id);
    let mut wake = state.signals.inbox.subscribe();
    let stream = async_stream(move |tx| async move {
        let mut last = newest;
        loop {
            let mut query = notifications::Entity::find()
                .filter(notifications::Column::UserId.eq(&me))
                .order_by_asc(notifications::Column::Id)
                .limit(100);
            if let Some(last) = last {
                query = query.filter(notifications::Column::Id.gt(last));
            }
            match query.all(&state.db).await {
                Ok(rows) => {
                    for row in rows {
                        last = Some(row.id);
                        if tx.send(Ok(to_proto(&row))).await.is_err() {
                            return;
                        }
                    }
                }
                Err(error) => {
                    let _ = tx
                        .send(Err(tonic::Status::unavailable(format!(
                            "database: {error}"
                        ))))
                        .await;
                    return;
                }
            }
            tokio::select! {
                () = tx.closed() => return,
                woken = wake.recv() => match woken {
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                () = tokio::time::sleep(STREAM_POLL) => {}
            }
        }
    });
    Ok(stream)
}

/// A stream fed by `produce` through a small channel: the producer stops
/// when the receiver is dropped.
fn async_stream<F, Fut>(produce: F) -> NotificationStream
where
    F: FnOnce(
        tokio::sync::mpsc::Sender<std::result::Result<proto::Notification, tonic::Status>>,
    ) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(produce(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
