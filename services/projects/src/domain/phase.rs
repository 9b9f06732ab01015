//! Phases: windows on a project's timeline, each with a participation method
//! and per-action permissions.

use chrono::{DateTime, Utc};
use inspraak_kit::grpc::FieldViolation;
use inspraak_proto::projects::v1 as proto;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Method {
    Information,
    Ideation {
        dislikes: bool,
    },
    Proposals {
        support_threshold: u32,
        expiry_days: u32,
    },
    SingleVote,
    MultipleVote {
        max_votes: u32,
    },
    BudgetVote {
        total_budget: u64,
    },
    Poll,
}

impl Method {
    pub fn parse(
        field: &str,
        method: Option<&proto::ParticipationMethod>,
        v: &mut Vec<FieldViolation>,
    ) -> Option<Self> {
        use proto::participation_method::Method as M;
        use proto::voting::Kind;
        let Some(method) = method.and_then(|m| m.method.as_ref()) else {
            v.push(FieldViolation::new(
                field,
                "a participation method is required",
            ));
            return None;
        };
        let parsed = match method {
            M::Information(_) => Method::Information,
            M::Ideation(i) => Method::Ideation {
                dislikes: i.dislikes,
            },
            M::Proposals(p) => {
                if !(1..=1_000_000).contains(&p.support_threshold) {
                    v.push(FieldViolation::new(
                        format!("{field}.proposals.support_threshold"),
                        "must be between 1 and 1000000",
                    ));
                }
                if !(1..=365).contains(&p.expiry_days) {
                    v.push(FieldViolation::new(
                        format!("{field}.proposals.expiry_days"),
                        "must be between 1 and 365",
                    ));
                }
                Method::Proposals {
                    support_threshold: p.support_threshold,
                    expiry_days: p.expiry_days,
                }
            }
            M::Voting(voting) => match &voting.kind {
                Some(Kind::Single(_)) => Method::SingleVote,
                Some(Kind::Multiple(m)) => {
                    if !(2..=1000).contains(&m.max_votes) {
                        v.push(FieldViolation::new(
                            format!("{field}.voting.multiple.max_votes"),
                            "must be between 2 and 1000",
                        ));
                    }
                    Method::MultipleVote {
                        max_votes: m.max_votes,
                    }
                }
                Some(Kind::Budget(b)) => {
                    if b.total_budget == 0 {
                        v.push(FieldViolation::new(
                            format!("{field}.voting.budget.total_budget"),
                            "must be positive",
                        ));
                    }
                    Method::BudgetVote {
                        total_budget: b.total_budget,
                    }
                }
                None => {
                    v.push(FieldViolation::new(
                        format!("{field}.voting"),
                        "single, multiple or budget is required",
                    ));
                    return None;
                }
            },
            M::Poll(_) => Method::Poll,
        };
        Some(parsed)
    }

    pub fn to_proto(&self) -> proto::ParticipationMethod {
        use proto::participation_method::Method as M;
        use proto::voting::Kind;
        let voting = |kind| M::Voting(proto::Voting { kind: Some(kind) });
        let method = match self {
            Method::Information => M::Information(proto::Information {}),
            Method::Ideation { dislikes } => M::Ideation(proto::Ideation {
                dislikes: *dislikes,
            }),
            Method::Proposals {
                support_threshold,
                expiry_days,
            } => M::Proposals(proto::Proposals {
                support_threshold: *support_threshold,
                expiry_days: *expiry_days,
            }),
            Method::SingleVote => voting(Kind::Single(proto::SingleVote {})),
            Method::MultipleVote { max_votes } => voting(Kind::Multiple(proto::MultipleVote {
                max_votes: *max_votes,
            })),
            Method::BudgetVote { total_budget } => voting(Kind::Budget(proto::BudgetVote {
                total_budget: *total_budget,
            })),
            Method::Poll => M::Poll(proto::Poll {}),
        };
        proto::ParticipationMethod {
            method: Some(method),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Everyone,
    Registered,
    ConfirmedEmail,
    Verified,
    AdminsAndManagers,
}

impl Permission {
    fn parse(field: &str, value: i32, v: &mut Vec<FieldViolation>) -> Permission {
        match proto::Permission::try_from(value) {
            Ok(proto::Permission::Everyone) => Permission::Everyone,
            Ok(proto::Permission::Registered) => Permission::Registered,
            Ok(proto::Permission::ConfirmedEmail) => Permission::ConfirmedEmail,
            Ok(proto::Permission::Verified) => Permission::Verified,
            Ok(proto::Permission::AdminsAndManagers) => Permission::AdminsAndManagers,
            _ => {
                v.push(FieldViolation::new(field, "must name who may act"));
                Permission::AdminsAndManagers
            }
        }
    }

    fn to_proto(self) -> i32 {
        (match self {
            Permission::Everyone => proto::Permission::Everyone,
            Permission::Registered => proto::Permission::Registered,
            Permission::ConfirmedEmail => proto::Permission::ConfirmedEmail,
            Permission::Verified => proto::Permission::Verified,
            Permission::AdminsAndManagers => proto::Permission::AdminsAndManagers,
        }) as i32
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub post: Permission,
    pub comment: Permission,
    pub react: Permission,
    pub vote: Permission,
}

impl Permissions {
    pub fn parse(
        field: &str,
        permissions: Option<&proto::ActionPermissions>,
        v: &mut Vec<FieldViolation>,
    ) -> Permissions {
        let p = permissions.cloned().unwrap_or_default();
        Permissions {
            post: Permission::parse(&format!("{field}.post"), p.post, v),
            comment: Permission::parse(&format!("{field}.comment"), p.comment, v),
            react: Permission::parse(&format!("{field}.react"), p.react, v),
            vote: Permission::parse(&format!("{field}.vote"), p.vote, v),
        }
    }

    pub fn to_proto(&self) -> proto::ActionPermissions {
        proto::ActionPermissions {
            post: self.post.to_proto(),
            comment: self.comment.to_proto(),
            react: self.react.to_proto(),
            vote: self.vote.to_proto(),
        }
    }
}

/// A phase's window: from `starts_at`, until `ends_at` if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
}

impl Window {
    fn overlaps(&self, other: &Window) -> bool {
        let ends_before = |a: &Window, b: &Window| a.ends_at.is_some_and(|end| end <= b.starts_at);
        !(ends_before(self, other) || ends_before(other, self))
    }
}

/// Checks that `new` (at `field`) does not overlap the project's other
/// phases and that only the last phase is open-ended.
pub fn check_timeline(field: &str, new: &Window, others: &[Window], v: &mut Vec<FieldViolation>) {
    if let Some(end) = new.ends_at
        && end <= new.starts_at
    {
        v.push(FieldViolation::new(
            format!("{field}.ends_at"),
            "must be after starts_at",
        ));
        return;
    }
    if others.iter().any(|other| new.overlaps(other)) {
        v.push(FieldViolation::new(
            format!("{field}.starts_at"),
            "overlaps another phase of the project",
        ));
    }
    if new.ends_at.is_none() && others.iter().any(|other| other.starts_at > new.starts_at) {
        v.push(FieldViolation::new(
            format!("{field}.ends_at"),
            "only the last phase may be open-ended",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 3, day, 9, 0, 0).unwrap()
    }

    fn window(from: u32, to: Option<u32>) -> Window {
        Window {
            starts_at: at(from),
            ends_at: to.map(at),
        }
    }

    #[test]
    fn adjacent_phases_fit_and_overlapping_ones_do_not() {
        let existing = [window(1, Some(10))];
        let mut v = Vec::new();
        check_timeline("phase", &window(10, Some(20)), &existing, &mut v);
        assert!(v.is_empty(), "{v:?}");
        check_timeline("phase", &window(9, Some(20)), &existing, &mut v);
        assert_eq!(v[0].field, "phase.starts_at");
    }

    #[test]
    fn an_end_before_the_start_is_named() {
        let mut v = Vec::new();
        check_timeline("phase", &window(10, Some(5)), &[], &mut v);
        assert_eq!(v[0].field, "phase.ends_at");
    }

    #[test]
    fn only_the_last_phase_is_open_ended() {
        let mut v = Vec::new();
        check_timeline("phase", &window(1, None), &[window(20, Some(25))], &mut v);
        assert!(!v.is_empty());
        let mut v = Vec::new();
        check_timeline("phase", &window(30, None), &[window(20, Some(25))], &mut v);
        assert!(v.is_empty(), "{v:?}");
    }
}
