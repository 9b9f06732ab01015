//! Turns notices into what is kept: an inbox row per recipient, and an
//! e-mail delivery as each recipient's preference says — at once, waiting
//! for a digest, or none. Both are keyed by (event, recipient[, channel]),
//! so an event delivered twice adds nothing the second time.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, IntoActiveModel};
use uuid::Uuid;

use crate::category::{Category, Frequency, default_frequency};
use crate::kind::Kind;
use crate::mail::templates::{Lang, title};
use crate::projections::{self, pick};
use crate::routing::{Notice, Recipient};
use crate::store::entities::{deliveries, notifications, preferences};

/// What a fan-out wrote: whose inbox got something, and whether mail is
/// due now (the sender is woken).
#[derive(Debug, Default)]
pub struct Written {
    pub inboxes: Vec<String>,
    pub mail_due: bool,
}

/// The frequency `user` chose for `category`, else the default for their
/// roles.
pub async fn frequency<C: ConnectionTrait>(
    db: &C,
    user: &str,
    roles: &[String],
    category: Category,
) -> Result<Frequency, DbErr> {
    if category == Category::Transactional {
        return Ok(Frequency::Instant);
    }
    let chosen = preferences::Entity::find_by_id((user.to_owned(), category.name().to_owned()))
        .one(db)
        .await?
        .and_then(|p| Frequency::from_name(&p.frequency));
    Ok(chosen.unwrap_or_else(|| default_frequency(category, roles)))
}

/// When the digest for `frequency` following `now` goes out: the next
/// `hour` o'clock in `zone` (daily), or the next Monday at that hour
/// (weekly).
pub fn next_digest(
    now: DateTime<Utc>,
    zone: chrono_tz::Tz,
    hour: u32,
    weekly: bool,
) -> DateTime<Utc> {
    let local = now.with_timezone(&zone);
    let at = NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or(NaiveTime::MIN);
    let mut day = local.date_naive();
    loop {
        let candidate = zone
            .from_local_datetime(&day.and_time(at))
            .earliest()
            .map(|t| t.with_timezone(&Utc));
        if let Some(candidate) = candidate
            && candidate > now
            && (!weekly || day.weekday() == Weekday::Mon)
        {
            return candidate;
        }
        day = day.succ_opt().unwrap_or(day);
        if (day - local.date_naive()).num_days() > 8 {
            // Unreachable for a real zone; a fallback rather than a loop.
            return now + Duration::days(if weekly { 7 } else { 1 });
        }
    }
}

pub async fn fan_out<C: ConnectionTrait>(
    db: &C,
    event_id: &str,
    notices: Vec<Notice>,
    now: DateTime<Utc>,
    digest_hour: u32,
) -> Result<Written, DbErr> {
    let mut written = Written::default();
    let zone = projections::time_zone(db).await?;
    // The event's trace (the consumer's span is current): each mail it
    // causes continues it.
    let traceparent = inspraak_kit::telemetry::current_traceparent();
    for notice in notices {
        let category = notice.kind.category();
        let (user, address, locale, roles) = match &notice.recipient {
            Recipient::Address {
                user_id,
                email,
                locale,
            } => (
                user_id.clone(),
                Some(email.clone()),
                locale.clone(),
                Vec::new(),
            ),
            Recipient::Person(user) => {
                let Some(person) = projections::person(db, user).await? else {
                    // Unknown here (or erased): nobody to address.
                    tracing::debug!(user = %user, kind = notice.kind.name(), "no such person");
                    continue;
                };
                let roles = projections::roles(&person);
                (person.user_id, None, person.locale, roles)
            }
        };
        let mut content = notice.content.clone();
        if content.project.is_empty() {
            content.project = projections::project_title(db, notice.project_id, &locale).await?;
        }
        if !notice.localized_input.is_empty() {
            content.input = pick(notice.localized_input.clone(), &locale);
        }
        if !notice.localized_status.is_empty() {
            content.status = pick(notice.localized_status.clone(), &locale);
        }
        if !notice.localized_excerpt.is_empty() {
            content.excerpt = pick(notice.localized_excerpt.clone(), &locale);
        }

        if category != Category::Transactional {
            let inserted = notifications::Entity::insert(
                notifications::Model {
                    id: Uuid::now_v7(),
                    user_id: user.clone(),
                    event_id: event_id.to_owned(),
                    kind: notice.kind.name().to_owned(),
                    category: category.name().to_owned(),
                    title: title(notice.kind, Lang::of(&locale), &content),
                    body: content.excerpt.clone(),
                    project_id: notice.project_id,
                    input_id: notice.input_id,
                    created_at: now,
                    read_at: None,
                }
                .into_active_model(),
            )
            .on_conflict(
                OnConflict::columns([
                    notifications::Column::EventId,
                    notifications::Column::UserId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
            if inserted > 0 {
                written.inboxes.push(user.clone());
            }
        }

        let (state, due) = match frequency(db, &user, &roles, category).await? {
            Frequency::Off => continue,
            Frequency::Instant => ("pending", None),
            Frequency::Daily => ("digest", Some(next_digest(now, zone, digest_hour, false))),
            Frequency::Weekly => ("digest", Some(next_digest(now, zone, digest_hour, true))),
        };
        let inserted = deliveries::Entity::insert(
            deliveries::Model {
                id: Uuid::now_v7(),
                event_id: event_id.to_owned(),
                user_id: user.clone(),
                channel: "email".to_owned(),
                kind: notice.kind.name().to_owned(),
                category: category.name().to_owned(),
                content: serde_json::to_value(&content).unwrap_or_default(),
                address,
                locale: locale.clone(),
                state: state.to_owned(),
                attempts: 0,
                next_attempt_at: now,
                leased_until: None,
                last_error: None,
                digest_due_at: due,
                project_id: notice.project_id,
                input_id: notice.input_id,
                created_at: now,
                sent_at: None,
                traceparent: traceparent.clone(),
            }
            .into_active_model(),
        )
        .on_conflict(
            OnConflict::columns([
                deliveries::Column::EventId,
                deliveries::Column::UserId,
                deliveries::Column::Channel,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        if inserted > 0 && state == "pending" {
            written.mail_due = true;
        }
    }
    Ok(written)
}

/// The kind stored on a delivery, for rendering.
pub fn kind_of(delivery: &deliveries::Model) -> Kind {
    Kind::from_name(&delivery.kind).unwrap_or(Kind::Digest)
}

#[cfg(test)]
mod tests {
    use super::next_digest;
    use chrono::{TimeZone, Utc};

    #[test]
    fn digests_go_out_at_the_hour_in_the_platforms_zone() {
        let zone = chrono_tz::Europe::Brussels;
        // Sunday 29 November 2026, 10:00 UTC = 11:00 in Brussels.
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap();
        let daily = next_digest(now, zone, 7, false);
        assert_eq!(daily, Utc.with_ymd_and_hms(2026, 11, 30, 6, 0, 0).unwrap());
        let weekly = next_digest(now, zone, 7, true);
        assert_eq!(weekly, daily, "the next day is a Monday");
        let monday_noon = Utc.with_ymd_and_hms(2026, 11, 30, 11, 0, 0).unwrap();
        assert_eq!(
            next_digest(monday_noon, zone, 7, true),
            Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap()
        );
        // Summer time: 07:00 in Brussels is 05:00 UTC.
        let july = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        assert_eq!(
            next_digest(july, zone, 7, false),
            Utc.with_ymd_and_hms(2026, 7, 2, 5, 0, 0).unwrap()
        );
    }
}
