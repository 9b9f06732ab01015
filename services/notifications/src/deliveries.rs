//! The admins' view of e-mail deliveries: what went out, what waits, what
//! failed and why.

use inspraak_kit::auth::Principal;
use inspraak_proto::notifications::v1 as proto;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::state::State;
use crate::store::entities::deliveries;

const STATES: [&str; 8] = [
    "pending",
    "retrying",
    "sent",
    "failed",
    "digest",
    "digested",
    "cancelled",
    "",
];

use inspraak_kit::clock::timestamp;

fn to_proto(d: &deliveries::Model) -> proto::Delivery {
    proto::Delivery {
        id: d.id.to_string(),
        event_id: d.event_id.clone(),
        user_id: d.user_id.clone(),
        channel: d.channel.clone(),
        kind: d.kind.clone(),
        state: d.state.clone(),
        attempts: d.attempts,
        last_error: d.last_error.clone().unwrap_or_default(),
        created_at: Some(timestamp(d.created_at)),
        sent_at: d.sent_at.map(timestamp),
    }
}

/// Puts a failed delivery back in line: sent again at once, with its
/// attempts counted afresh.
pub async fn retry(
    state: &State,
    principal: &Principal,
    request: &proto::RetryDeliveryRequest,
) -> Result<proto::Delivery> {
    if !principal.is_admin() {
        return Err(Error::PermissionDenied(
            "deliveries are for platform admins".to_owned(),
        ));
    }
    let id =
        Uuid::parse_str(request.id.trim()).map_err(|_| Error::invalid("id", "is not an id"))?;
    let now = state.clock.now();
    let changed = deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::State,
            sea_orm::sea_query::Expr::value("pending"),
        )
        .col_expr(
            deliveries::Column::Attempts,
            sea_orm::sea_query::Expr::value(0),
        )
        .col_expr(
            deliveries::Column::NextAttemptAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(deliveries::Column::Id.eq(id))
        .filter(deliveries::Column::State.eq("failed"))
        .exec(&state.db)
        .await?;
    let row = deliveries::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(Error::NotFound("delivery"))?;
    if changed.rows_affected == 0 {
        return Err(Error::FailedPrecondition(format!(
            "only a failed delivery is sent again; this one is {}",
            row.state
        )));
    }
    state.signals.mail.notify_one();
    Ok(to_proto(&row))
}

pub async fn list(
    state: &State,
    principal: &Principal,
    request: &proto::ListDeliveriesRequest,
) -> Result<proto::ListDeliveriesResponse> {
    if !principal.is_admin() {
        return Err(Error::PermissionDenied(
            "deliveries are for platform admins".to_owned(),
        ));
    }
    let wanted = request.state.trim();
    if !STATES.contains(&wanted) {
        return Err(Error::invalid(
            "state",
            "pending, retrying, sent, failed, digest, digested or cancelled",
        ));
    }
    let size = match request.page_size {
        0 => 50,
        n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
        n => u64::try_from(n).unwrap_or(100).min(100),
    };
    let mut query = deliveries::Entity::find().order_by_desc(deliveries::Column::Id);
    if !wanted.is_empty() {
        query = query.filter(deliveries::Column::State.eq(wanted));
    }
    if !request.user_id.trim().is_empty() {
        query = query.filter(deliveries::Column::UserId.eq(request.user_id.trim()));
    }
    if !request.page_token.is_empty() {
        let after = Uuid::parse_str(&request.page_token)
            .map_err(|_| Error::invalid("page_token", "is not a token of this list"))?;
        query = query.filter(deliveries::Column::Id.lt(after));
    }
    let rows = query.limit(size + 1).all(&state.db).await?;
    let more = rows.len() as u64 > size;
    let page: Vec<&deliveries::Model> = rows
        .iter()
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .collect();
    Ok(proto::ListDeliveriesResponse {
        next_page_token: match (more, page.last()) {
            (true, Some(last)) => last.id.to_string(),
            _ => String::new(),
        },
        deliveries: page.into_iter().map(to_proto).collect(),
    })
}
