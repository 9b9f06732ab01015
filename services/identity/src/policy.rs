//! The registration policy in force, and replacing it.

use inspraak_proto::events::v1 as events;
use inspraak_proto::identity::v1 as proto;
use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder, SqlErr};

use crate::access::Caller;
use crate::accounts::timestamp;
use crate::domain::policy::Policy;
use crate::error::{Error, Result};
use crate::state::State;
use crate::store::entities::registration_policy;

pub struct Current {
    pub policy: Policy,
    /// 0 until an admin first sets a policy (the defaults apply).
    pub version: i64,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Current {
    pub fn etag(&self) -> String {
        format!("policy-v{}", self.version)
    }

    pub fn to_proto(&self) -> proto::RegistrationPolicy {
        proto::RegistrationPolicy {
            version: u64::try_from(self.version).unwrap_or(0),
            etag: self.etag(),
            updated_at: self.updated_at.map(timestamp),
            ..self.policy.to_proto()
        }
    }
}

pub async fn current(state: &State) -> Result<Current> {
    let newest = registration_policy::Entity::find()
        .order_by_desc(registration_policy::Column::Version)
        .one(&state.db)
        .await?;
    match newest {
        None => Ok(Current {
            policy: Policy::default(),
            version: 0,
            updated_at: None,
        }),
        Some(row) => Ok(Current {
            policy: serde_json::from_value(row.policy)
                .map_err(|e| Error::Internal(format!("stored registration policy: {e}")))?,
            version: row.version,
            updated_at: Some(row.updated_at),
        }),
    }
}

/// Replaces the policy; `etag` must be the one of the policy in force.
pub async fn update(
    state: &State,
    caller: &Caller,
    request: &proto::UpdateRegistrationPolicyRequest,
) -> Result<Current> {
    caller.require_admin()?;
    let wanted = request
        .policy
        .as_ref()
        .ok_or_else(|| Error::invalid("policy", "is required"))?;
    let policy = Policy::from_proto(wanted).map_err(Error::Invalid)?;
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    let in_force = registration_policy::Entity::find()
        .order_by_desc(registration_policy::Column::Version)
        .one(&txn)
        .await?
        .map_or(0, |row| row.version);
    if request.etag != format!("policy-v{in_force}") {
        return Err(Error::Aborted(
            "the policy changed since it was read; read it again".to_owned(),
        ));
    }
    let version = in_force + 1;
    let now = state.clock.now();
    let inserted = registration_policy::Entity::insert(registration_policy::ActiveModel {
        version: Set(version),
        policy: Set(serde_json::to_value(&policy).map_err(|e| Error::Internal(e.to_string()))?),
        updated_by: Set(caller.audit_name()),
        updated_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await;
    if let Err(error) = inserted {
        // Another admin saved the same version a moment earlier.
        return Err(match error.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                Error::Aborted("the policy changed since it was read; read it again".to_owned())
            }
            _ => error.into(),
        });
    }
    state
        .publish(
            &txn,
            "identity.registration_policy.changed.v1",
            "registration_policy",
            "current",
            version,
            &events::RegistrationPolicyChanged {
                version: u64::try_from(version).unwrap_or(0),
                confirmation_required: policy.confirmation_required,
            },
        )
        .await?;
    state.outbox.commit(txn).await?;
    Ok(Current {
        policy,
        version,
        updated_at: Some(now),
    })
}
