//! The platform settings in force, and replacing them.

use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as proto;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, QueryOrder, SqlErr};

use crate::access::Caller;
use crate::domain::settings::Settings;
use crate::domain::timestamp;
use crate::error::{Error, Result};
use crate::state::State;
use crate::store::entities::settings;

pub struct Current {
    pub settings: Settings,
    pub version: i64,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Current {
    pub fn etag(&self) -> String {
        format!("settings-v{}", self.version)
    }

    pub fn to_proto(&self) -> proto::PlatformSettings {
        proto::PlatformSettings {
            version: u64::try_from(self.version).unwrap_or(0),
            etag: self.etag(),
            updated_at: self.updated_at.map(timestamp),
            ..self.settings.to_proto()
        }
    }
}

pub async fn current<C: ConnectionTrait>(db: &C) -> Result<Current> {
    let newest = settings::Entity::find()
        .order_by_desc(settings::Column::Version)
        .one(db)
        .await?;
    match newest {
        None => Ok(Current {
            settings: Settings::default(),
            version: 0,
            updated_at: None,
        }),
        Some(row) => Ok(Current {
            settings: serde_json::from_value(row.settings)
                .map_err(|e| Error::Internal(format!("stored settings: {e}")))?,
            version: row.version,
            updated_at: Some(row.updated_at),
        }),
    }
}

pub async fn update(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::UpdatePlatformSettingsRequest,
) -> Result<Current> {
    caller.require_admin()?;
    let wanted = request
        .settings
        .as_ref()
        .ok_or_else(|| Error::invalid("settings", "is required"))?;
    let parsed = Settings::from_proto(wanted).map_err(Error::Invalid)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let in_force = current(&txn).await?;
    if request.etag != in_force.etag() {
        return Err(Error::Aborted(
            "the settings changed since they were read; read them again".to_owned(),
        ));
    }
    let version = in_force.version + 1;
    let now = state.clock.now();
    let inserted = settings::Entity::insert(settings::ActiveModel {
        version: Set(version),
        settings: Set(serde_json::to_value(&parsed).map_err(|e| Error::Internal(e.to_string()))?),
        updated_by: Set(caller.principal()?.subject.clone()),
        updated_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await;
    if let Err(error) = inserted {
        return Err(match error.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Error::Aborted(
                "the settings changed since they were read; read them again".to_owned(),
            ),
            _ => error.into(),
        });
    }
    let current = Current {
        settings: parsed,
        version,
        updated_at: Some(now),
    };
    state
        .publish(
            &txn,
            "projects.settings.changed.v1",
            "settings",
            "platform",
            version,
            &events::SettingsChanged {
                settings: Some(current.to_proto()),
            },
        )
        .await?;
    state.outbox.commit(txn).await?;
    Ok(current)
}
