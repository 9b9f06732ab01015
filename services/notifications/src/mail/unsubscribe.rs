//! The one-click unsubscribe (RFC 8058): a random token per person and
//! category, put in every mail one may unsubscribe from; presenting it turns
//! that category's e-mail off. A digest's token turns off every category
//! that was gathered into digests.

use base64::Engine;
use rand::RngCore;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::category::{CHOOSABLE, Category, Frequency};
use crate::projections;
use crate::store::entities::{preferences, unsubscribe_tokens};

/// The category name a digest's token stands for.
pub const DIGESTS: &str = "digests";

/// The token of (`user`, `category`), made on first use.
pub async fn token<C: ConnectionTrait>(
    db: &C,
    user: &str,
    category: &str,
) -> Result<String, DbErr> {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let fresh = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    unsubscribe_tokens::Entity::insert(unsubscribe_tokens::ActiveModel {
        token: sea_orm::ActiveValue::Set(fresh.clone()),
        user_id: sea_orm::ActiveValue::Set(user.to_owned()),
        category: sea_orm::ActiveValue::Set(category.to_owned()),
    })
    .on_conflict(
        OnConflict::columns([
            unsubscribe_tokens::Column::UserId,
            unsubscribe_tokens::Column::Category,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(unsubscribe_tokens::Entity::find()
        .filter(unsubscribe_tokens::Column::UserId.eq(user))
        .filter(unsubscribe_tokens::Column::Category.eq(category))
        .one(db)
        .await?
        .map_or(fresh, |t| t.token))
}

/// Turns e-mail off for what `token` stands for; `None` when the token is
/// unknown. Returns the category (`None` inside for a digest's token).
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    token: &str,
) -> Result<Option<Option<Category>>, DbErr> {
    let Some(row) = unsubscribe_tokens::Entity::find_by_id(token.to_owned())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let roles = projections::person(db, &row.user_id)
        .await?
        .map(|p| projections::roles(&p))
        .unwrap_or_default();
    let categories: Vec<Category> = if row.category == DIGESTS {
        let mut gathered = Vec::new();
        for category in CHOOSABLE {
            let now = crate::fanout::frequency(db, &row.user_id, &roles, category).await?;
            if matches!(now, Frequency::Daily | Frequency::Weekly) {
                gathered.push(category);
            }
        }
        gathered
    } else {
        Category::from_name(&row.category).into_iter().collect()
    };
    for category in &categories {
        set(db, &row.user_id, *category, Frequency::Off).await?;
    }
    Ok(Some(if row.category == DIGESTS {
        None
    } else {
        categories.first().copied()
    }))
}

pub async fn set<C: ConnectionTrait>(
    db: &C,
    user: &str,
    category: Category,
    frequency: Frequency,
) -> Result<(), DbErr> {
    preferences::Entity::insert(preferences::ActiveModel {
        user_id: sea_orm::ActiveValue::Set(user.to_owned()),
        category: sea_orm::ActiveValue::Set(category.name().to_owned()),
        frequency: sea_orm::ActiveValue::Set(frequency.name().to_owned()),
    })
    .on_conflict(
        OnConflict::columns([preferences::Column::UserId, preferences::Column::Category])
            .update_column(preferences::Column::Frequency)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}
