//! The tables of the discussion of inputs: comments, reactions, and the
//! reactions not yet announced.

entity!(comments, "comments", {
    /// UUIDv7: a thread reads oldest first in id order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub input_id: Uuid,
    pub project_id: Uuid,
    /// The top-level comment this one answers; `None` for a top-level one.
    pub parent_id: Option<Uuid>,
    pub author_id: String,
    /// Emptied when the comment is deleted.
    pub body: String,
    /// For the project's staff only.
    pub internal: bool,
    /// The author's retry key: unique per author.
    pub request_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
    /// Hidden by moderation: shown only to its author and the staff.
    pub hidden_at: Option<DateTimeUtc>,
    pub version: i64,
    pub open_reports: i64,
});

// One reaction per person per input: the primary key says so.
entity!(reactions, "reactions", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub input_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// up or down
    pub direction: String,
    pub created_at: DateTimeUtc,
});
