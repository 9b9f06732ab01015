//! Notifications' tables as sea-orm entities.

// People as identity's events describe them; removed (with a tombstone in
// `erased_people`) when identity deletes the person.
entity!(people, "people", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub locale: String,
    /// platform_admin, communication_officer, decision_maker,
    /// project_reviewer
    pub roles: Json,
});

// Whom identity deleted: late events about them are ignored.
entity!(erased_people, "erased_people", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
});

entity!(projects, "projects", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Locale to text.
    pub title: Json,
    pub version: i64,
});

entity!(project_team, "project_team", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// manager or communication_contact
    #[sea_orm(primary_key, auto_increment = false)]
    pub role: String,
});

entity!(follows, "follows", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// input or project
    #[sea_orm(primary_key, auto_increment = false)]
    pub target_type: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub target_id: Uuid,
    pub project_id: Uuid,
});

// The platform's settings that notifications needs: its time zone and
// locales, and the report's cadence.
entity!(platform, "platform", {
    /// Always 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub time_zone: String,
    pub default_locale: String,
    pub version: i64,
});

// The in-app inbox: one row per (event, recipient).
entity!(notifications, "notifications", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: String,
    pub event_id: String,
    pub kind: String,
    pub category: String,
    pub title: String,
    pub body: String,
    pub project_id: Option<Uuid>,
    pub input_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub read_at: Option<DateTimeUtc>,
});

// E-mail deliveries: one row per (event, recipient, channel). A digest is a
// delivery too, keyed by its recipient and period.
entity!(deliveries, "deliveries", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: String,
    pub user_id: String,
    pub channel: String,
    pub kind: String,
    pub category: String,
    /// What the template needs (`mail::Content`), as JSON.
    pub content: Json,
    /// The address for transactional mail, which may go to an address not
    /// yet known from people (a confirmation code).
    pub address: Option<String>,
    pub locale: String,
    /// pending, retrying, sent, failed, digest (waiting for its digest),
    /// digested, cancelled
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// A sender holds the delivery until then; after a crash another
    /// sender takes it over.
    pub leased_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    /// For digest items: when their digest is due.
    pub digest_due_at: Option<DateTimeUtc>,
    pub project_id: Option<Uuid>,
    pub input_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    /// The W3C trace context of the event that caused it: its delivery
    /// continues that trace.
    pub traceparent: String,
});

entity!(preferences, "preferences", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub category: String,
    /// instant, daily, weekly, off
    pub frequency: String,
});

// The one-click unsubscribe tokens: random, one per person and category.
entity!(unsubscribe_tokens, "unsubscribe_tokens", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token: String,
    pub user_id: String,
    pub category: String,
});

// Inputs announced overdue, until answered: the core team is told when one
// stays unanswered for a further period (once, whichever replica sees it).
entity!(overdue_inputs, "overdue_inputs", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub input_id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub overdue_at: DateTimeUtc,
    pub answered_at: Option<DateTimeUtc>,
    pub escalated_at: Option<DateTimeUtc>,
});

// What the decision-makers' report counts, kept from contributions' events.
entity!(report_inputs, "report_inputs", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub input_id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub created_at: DateTimeUtc,
    pub first_feedback_at: Option<DateTimeUtc>,
    pub answer_seconds: Option<i64>,
    pub reactions_up: i64,
    pub overdue: bool,
    pub deleted: bool,
    /// False while only later facts (an answer, a count, a deletion) have
    /// arrived and not the input's creation: `created_at`, the title and
    /// the project are then the later fact's, and the input is not counted
    /// as new.
    pub created_known: bool,
});

// Who contributed when (inputs and comments), for the participants count.
entity!(report_activity, "report_activity", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: String,
    pub project_id: Uuid,
    pub user_id: String,
    pub at: DateTimeUtc,
});

// One row per period the report was made for: its key makes it once.
entity!(reports_made, "reports_made", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub period_end: DateTimeUtc,
    pub period_start: DateTimeUtc,
    /// Whether anything happened (else nothing was sent).
    pub sent: bool,
    pub made_at: DateTimeUtc,
});

// The charter's cadence for the report, from projects' settings.
entity!(report_schedule, "report_schedule", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// weekly, fortnightly, monthly, quarterly
    pub cadence: String,
    /// 1 (Monday) to 7 for weekly and fortnightly; 1 to 28 for monthly and
    /// quarterly.
    pub day: i32,
    pub hour: i32,
    pub version: i64,
});

// Who holds which platform role: admins, reviewers and decision-makers are
// found by an index, not by reading every person.
entity!(person_roles, "person_roles", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub role: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
});
