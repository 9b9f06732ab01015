//! Contributions' tables, as sea-orm entities: the projection of projects'
//! facts (`projected_*`, `charter`) and contributions' own data.

entity!(projected_projects, "projected_projects", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// draft, published, archived
    pub state: String,
    /// public, registered, staff
    pub visibility: String,
    /// The envelope's aggregate_version of the copy: older events are ignored.
    pub version: i64,
    /// Input is screened by the project's staff before it becomes public.
    pub prescreening: bool,
});

entity!(projected_team, "projected_team", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// manager or communication_contact
    #[sea_orm(primary_key, auto_increment = false)]
    pub role: String,
});

entity!(projected_phases, "projected_phases", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub starts_at: DateTimeUtc,
    pub ends_at: Option<DateTimeUtc>,
    /// information, ideation, proposals, voting, poll
    pub method: String,
    /// everyone, registered, confirmed_email, verified, admins_and_managers
    pub post: String,
    pub comment: String,
    pub react: String,
    pub vote: String,
    /// Ideation: whether residents may react with a dislike.
    pub dislikes: bool,
    /// Proposals: supporters needed, within `expiry_days` of publication.
    pub support_threshold: i64,
    pub expiry_days: i64,
    /// Voting: single, multiple or budget; empty for other methods.
    pub vote_kind: String,
    /// Multiple voting: the most inputs one basket may hold.
    pub max_votes: i64,
    /// Budget voting: the budget in cents.
    pub total_budget: i64,
});

entity!(charter, "charter", {
    /// Always 1: the platform has one charter.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub answer_target_days: i64,
    pub moderation_threshold: i64,
    pub version: i64,
});

entity!(inputs, "inputs", {
    /// UUIDv7, so the newest-first order is the id order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub phase_id: Uuid,
    pub title: String,
    pub body: String,
    pub topics: Json,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub anonymous: bool,
    pub author_id: String,
    pub status: String,
    /// The author's retry key: unique per author.
    pub request_id: Option<String>,
    pub feedback_given: bool,
    pub created_at: DateTimeUtc,
    pub answer_deadline: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
    pub version: i64,
    /// Hidden by a moderator or by reports; hidden inputs leave public reads.
    pub hidden_at: Option<DateTimeUtc>,
    /// Budget voting: what realising the input costs, in cents.
    pub cost: i64,
    /// Proposals: the supporters needed, and when the proposal expires
    /// without them (copied from the phase when it was posted).
    pub support_threshold: i64,
    pub expires_at: Option<DateTimeUtc>,
    /// When official feedback was first published.
    pub first_feedback_at: Option<DateTimeUtc>,
    /// When the input was announced overdue (at most once).
    pub overdue_at: Option<DateTimeUtc>,
    /// Counters kept in the transactions that change them, for the counts
    /// shown with the input and the sorts.
    pub reactions_up: i64,
    pub reactions_down: i64,
    pub comment_count: i64,
    pub vote_count: i64,
    pub open_reports: i64,
    /// The trending rank: recomputed whenever reactions or comments change.
    pub trending: f64,
    /// When the input's reactions first changed since they were last
    /// announced: the start of the burst the coalescer announces as one
    /// event once its window has passed (`None`: nothing to announce).
    pub reactions_since: Option<DateTimeUtc>,
});

// A part of the statistics of a project (nil phase) or phase: the figures
// are the sums over its parts (see counters.rs).
entity!(statistics_parts, "statistics_parts", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    /// The nil UUID for the project's own row.
    #[sea_orm(primary_key, auto_increment = false)]
    pub phase_id: Uuid,
    /// Which part: the writing connection's (see counters.rs).
    #[sea_orm(primary_key, auto_increment = false)]
    pub part: i32,
    pub input_count: i64,
    pub participant_count: i64,
    pub comment_count: i64,
    pub reaction_count: i64,
    pub vote_count: i64,
    /// Inputs with official feedback.
    pub answered_count: i64,
    /// Inputs announced overdue and still without feedback.
    pub overdue_count: i64,
});

entity!(status_counts, "status_counts", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    /// The nil UUID for the project's own row.
    #[sea_orm(primary_key, auto_increment = false)]
    pub phase_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: String,
    pub count: i64,
});

// Whoever contributed anything (input, comment, reaction, vote) to a
// project or phase, once: the participants counter counts new rows.
entity!(participants, "participants", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub phase_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
});

// First-answer times as a histogram (hours, rounded up), so the median is
// read from a few rows, never by scanning inputs.
entity!(answer_times, "answer_times", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub phase_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub hours: i64,
    pub count: i64,
});

entity!(input_topics, "input_topics", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub topic: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub input_id: Uuid,
});

// People identity has blocked, from its events; `until` unset: until
// unblocked.
entity!(blocked_people, "blocked_people", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub until: Option<DateTimeUtc>,
});

// Who follows what: an input or a project. Notifications keeps its own copy
// from `contributions.follow.changed.v1`.
entity!(follows, "follows", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// input or project
    #[sea_orm(primary_key, auto_increment = false)]
    pub target_type: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub target_id: Uuid,
    pub project_id: Uuid,
    pub created_at: DateTimeUtc,
});
