//! Each person's choice per category: instant, daily, weekly or off; the
//! defaults by role until they choose.

use inspraak_kit::auth::Principal;
use inspraak_kit::grpc::FieldViolation;
use inspraak_proto::notifications::v1 as proto;

use crate::category::{CHOOSABLE, Category, Frequency};
use crate::error::{Error, Result};
use crate::fanout::frequency;
use crate::mail::unsubscribe;
use crate::projections;
use crate::state::State;

/// The roles to take defaults from: those notifications knows, else those
/// in the caller's token.
async fn roles(state: &State, principal: &Principal) -> Result<Vec<String>> {
    Ok(
        match projections::person(&state.db, &principal.subject).await? {
            Some(person) => projections::roles(&person),
            None => principal
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
        },
    )
}

pub async fn get(state: &State, principal: &Principal) -> Result<proto::Preferences> {
    let roles = roles(state, principal).await?;
    let mut preferences = Vec::new();
    for category in CHOOSABLE {
        let chosen = frequency(&state.db, &principal.subject, &roles, category).await?;
        preferences.push(proto::Preference {
            category: category.wire() as i32,
            frequency: chosen.wire() as i32,
        });
    }
    Ok(proto::Preferences { preferences })
}

pub async fn update(
    state: &State,
    principal: &Principal,
    request: &proto::UpdatePreferencesRequest,
) -> Result<proto::Preferences> {
    let mut v = Vec::new();
    let mut changes: Vec<(Category, Frequency)> = Vec::new();
    if request.preferences.is_empty() {
        v.push(FieldViolation::new(
            "preferences",
            "name at least one category",
        ));
    }
    for (i, preference) in request.preferences.iter().enumerate() {
        let category = Category::from_wire(preference.category);
        let chosen = Frequency::from_wire(preference.frequency);
        if category.is_none() {
            v.push(FieldViolation::new(
                format!("preferences[{i}].category"),
                "is not a category one can choose",
            ));
        }
        if chosen.is_none() {
            v.push(FieldViolation::new(
                format!("preferences[{i}].frequency"),
                "instant, daily, weekly or off",
            ));
        }
        if let (Some(category), Some(chosen)) = (category, chosen) {
            if changes.iter().any(|(c, _)| *c == category) {
                v.push(FieldViolation::new(
                    format!("preferences[{i}].category"),
                    "is named twice",
                ));
            }
            changes.push((category, chosen));
        }
    }
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    let txn = inspraak_kit::db::begin_write(&state.db).await?;
    for (category, chosen) in changes {
        unsubscribe::set(&txn, &principal.subject, category, chosen).await?;
    }
    txn.commit().await?;
    get(state, principal).await
}
