//! What can be reported — inputs and comments — seen the same way by
//! moderation: its project, its real author, an excerpt, and whether it is
//! hidden; and how it is hidden and shown again.

use chrono::{DateTime, Utc};
use inspraak_proto::contributions::v1 as proto;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::access::Caller;
use crate::error::{Error, Result};
use crate::history::{self, Act};
use crate::inputs;
use crate::state::State;
use crate::store::entities::inputs as input_rows;
use crate::wire::parse_uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Input(Uuid),
    Comment(Uuid),
}

impl Target {
    /// The target a request names; INVALID_ARGUMENT when none or not an id.
    pub fn from_wire(target: Option<&proto::ModerationTarget>) -> Result<Self> {
        use proto::moderation_target::Target as Wire;
        match target.and_then(|t| t.target.as_ref()) {
            Some(Wire::InputId(id)) => Ok(Self::Input(parse_uuid("target.input_id", id)?)),
            Some(Wire::CommentId(id)) => Ok(Self::Comment(parse_uuid("target.comment_id", id)?)),
            None => Err(Error::invalid("target", "name an input or a comment")),
        }
    }

    pub fn from_stored(kind: &str, id: Uuid) -> Self {
        if kind == "comment" {
            Self::Comment(id)
        } else {
            Self::Input(id)
        }
    }

    pub fn wire(self) -> proto::ModerationTarget {
        use proto::moderation_target::Target as Wire;
        proto::ModerationTarget {
            target: Some(match self {
                Self::Input(id) => Wire::InputId(id.to_string()),
                Self::Comment(id) => Wire::CommentId(id.to_string()),
            }),
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Self::Input(_) => "input",
            Self::Comment(_) => "comment",
        }
    }

    pub fn id(self) -> Uuid {
        match self {
            Self::Input(id) | Self::Comment(id) => id,
        }
    }
}

/// A reported thing as moderation sees it.
#[derive(Debug, Clone)]
pub struct Subject {
    pub target: Target,
    pub project_id: Uuid,
    pub author_id: String,
    pub excerpt: String,
    pub hidden_at: Option<DateTime<Utc>>,
}

fn excerpt(text: &str) -> String {
    const LENGTH: usize = 120;
    let mut out: String = text.chars().take(LENGTH).collect();
    if text.chars().count() > LENGTH {
        out.push('…');
    }
    out
}

/// The target, if `caller` may see it (NOT_FOUND otherwise).
pub async fn load<C: sea_orm::ConnectionTrait>(
    txn: &C,
    caller: &Caller<'_>,
    target: Target,
) -> Result<Subject> {
    match target {
        Target::Input(id) => {
            let input = inputs::visible(txn, caller, id).await?;
            Ok(Subject {
                target,
                project_id: input.project_id,
                author_id: input.author_id,
                excerpt: excerpt(&input.title),
                hidden_at: input.hidden_at,
            })
        }
        Target::Comment(id) => {
            let comment = crate::comments::visible_to(txn, caller, id).await?;
            Ok(Subject {
                target,
                project_id: comment.project_id,
                author_id: comment.author_id,
                excerpt: excerpt(&comment.body),
                hidden_at: comment.hidden_at,
            })
        }
    }
}

/// Hides or shows `target` again within `txn`, with its history and event.
/// `actor` empty: hidden by reports. Does nothing when already so.
pub async fn set_hidden(
    state: &State,
    txn: &DatabaseTransaction,
    target: Target,
    hidden: bool,
    actor: &str,
) -> Result<()> {
    let now = state.clock.now();
    match target {
        Target::Input(id) => {
            let Some(mut input) = input_rows::Entity::find_by_id(id).one(txn).await? else {
                return Err(Error::NotFound("input"));
            };
            if input.hidden_at.is_some() == hidden {
                return Ok(());
            }
            input.hidden_at = hidden.then_some(now);
            let act = if hidden { Act::Hidden } else { Act::Restored };
            history::record(txn, id, act, actor, now).await?;
            let input = inputs::save(state, txn, input).await?;
            let event = if hidden {
                "contributions.input.hidden.v1"
            } else {
                "contributions.input.restored.v1"
            };
            inputs::announce(state, txn, &input, event, actor).await
        }
        Target::Comment(id) => {
            let changed = crate::store::discussion::comments::Entity::update_many()
                .col_expr(
                    crate::store::discussion::comments::Column::HiddenAt,
                    Expr::value(hidden.then_some(now)),
                )
                .filter(crate::store::discussion::comments::Column::Id.eq(id))
                .exec(txn)
                .await?;
            if changed.rows_affected == 0 {
                return Err(Error::NotFound("comment"));
            }
            crate::comments::announce_moderation(state, txn, id, hidden, actor).await
        }
    }
}
