//! The platform's scenarios: its real services on PostgreSQL (and
//! RabbitMQ where events flow), called through their gRPC APIs.

pub mod listing;
pub mod login;
pub mod pipeline;
pub mod read;
pub mod writes;

/// Contributions' defaults, without the per-person flood limits: the load
/// comes from a few prepared people far faster than any person posts. The
/// limit's check (an indexed count under a per-person lock) still runs on
/// every post, so its cost is measured.
pub fn unlimited_posting() -> inspraak_contributions::ContributionsSettings {
    inspraak_contributions::ContributionsSettings {
        inputs_per_minute: u64::MAX,
        comments_per_minute: u64::MAX,
        ..inspraak_contributions::ContributionsSettings::defaults()
    }
}
