//! The tables of moderation: every report, and one queue row per reported
//! target.

entity!(reports, "reports", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// input or comment
    pub target_type: String,
    pub target_id: Uuid,
    pub project_id: Uuid,
    pub reporter_id: String,
    /// spam, inappropriate, other
    pub reason: String,
    pub text: String,
    pub created_at: DateTimeUtc,
    /// open, upheld or dismissed
    pub resolution: String,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTimeUtc>,
    pub note: Option<String>,
});

// The queue: a target is in it while `queued_at` is set (it has open
// reports).
entity!(moderation_items, "moderation_items", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub target_type: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub target_id: Uuid,
    pub project_id: Uuid,
    pub open_reports: i64,
    pub queued_at: Option<DateTimeUtc>,
    /// Hidden by reports rather than by a moderator.
    pub hidden_automatically: bool,
});
