//! The tables of statuses and official feedback: an input's history, its
//! feedback and every revision of it.

entity!(input_history, "input_history", {
    /// UUIDv7: the history reads in id order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub input_id: Uuid,
    /// created, edited, status_changed, feedback_published, feedback_edited,
    /// hidden, restored, deleted
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub feedback_id: Option<Uuid>,
    /// Empty when the service itself acted.
    pub actor_id: String,
    pub at: DateTimeUtc,
});

entity!(feedback, "feedback", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub input_id: Uuid,
    pub project_id: Uuid,
    /// Locale to text.
    pub body: Json,
    pub signed_by: String,
    pub author_id: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// 1 when published, one more per edit.
    pub revision: i64,
});

// Every revision of a feedback, the first included: edits keep history.
entity!(feedback_revisions, "feedback_revisions", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub feedback_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub revision: i64,
    pub body: Json,
    pub signed_by: String,
    pub author_id: String,
    pub at: DateTimeUtc,
});
