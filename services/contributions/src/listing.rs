//! Lists of inputs: a project's (or a phase's) with filters and sorts, the
//! overdue ones, and a person's own. Every list is keyset-paginated along an
//! index, so a page costs the same on the first page and the thousandth,
//! with ten inputs or a million.

use chrono::{DateTime, Utc};
use inspraak_proto::contributions::v1 as proto;
use sea_orm::sea_query::{Condition, Query};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use uuid::Uuid;

use crate::access::Caller;
use crate::error::{Error, Result};
use crate::inputs::to_proto;
use crate::state::State;
use crate::status::Status;
use crate::store::entities::{input_topics, inputs};
use crate::wire::parse_uuid;

/// The order of a list, and the key its pages are walked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Newest,
    MostReactions,
    Trending,
    MostCommented,
    /// Most overdue first: by answer deadline, oldest first.
    Overdue,
}

impl Order {
    fn from_wire(sort: i32) -> Result<Self> {
        use proto::InputSort;
        match InputSort::try_from(sort) {
            Ok(InputSort::Unspecified | InputSort::Newest) => Ok(Self::Newest),
            Ok(InputSort::MostReactions) => Ok(Self::MostReactions),
            Ok(InputSort::Trending) => Ok(Self::Trending),
            Ok(InputSort::MostCommented) => Ok(Self::MostCommented),
            Err(_) => Err(Error::invalid("sort", "is not a sort")),
        }
    }

    /// The token's prefix: a token of another order is refused.
    fn tag(self) -> &'static str {
        match self {
            Self::Newest => "n",
            Self::MostReactions => "r",
            Self::Trending => "t",
            Self::MostCommented => "c",
            Self::Overdue => "o",
        }
    }

    /// The key of `input` in this order, as the token carries it.
    fn key(self, input: &inputs::Model) -> String {
        match self {
            Self::Newest => String::new(),
            Self::MostReactions => input.reactions_up.to_string(),
            // Rust prints the shortest text that parses back to the same
            // f64, so the key round-trips exactly.
            Self::Trending => input.trending.to_string(),
            Self::MostCommented => input.comment_count.to_string(),
            Self::Overdue => input.answer_deadline.timestamp_micros().to_string(),
        }
    }

    fn token(self, input: &inputs::Model) -> String {
        format!("{}:{}:{}", self.tag(), self.key(input), input.id)
    }

    /// Orders `query` and, after `token`, keeps what follows it.
    fn apply(
        self,
        mut query: Select<inputs::Entity>,
        token: &str,
    ) -> Result<Select<inputs::Entity>> {
        use inputs::Column;
        let ranked = |column: Column| -> Option<Column> { Some(column) };
        let (column, descending) = match self {
            Self::Newest => (None, true),
            Self::MostReactions => (ranked(Column::ReactionsUp), true),
            Self::Trending => (ranked(Column::Trending), true),
            Self::MostCommented => (ranked(Column::CommentCount), true),
            Self::Overdue => (ranked(Column::AnswerDeadline), false),
        };
        query = match (column, descending) {
            (Some(c), true) => query.order_by_desc(c).order_by_desc(Column::Id),
            (Some(c), false) => query.order_by_asc(c).order_by_asc(Column::Id),
            (None, _) => query.order_by_desc(Column::Id),
        };
        if token.is_empty() {
            return Ok(query);
        }
        let bad = || Error::invalid("page_token", "is not a token of this list");
        let mut parts = token.splitn(3, ':');
        let (Some(tag), Some(key), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if tag != self.tag() {
            return Err(bad());
        }
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        let after = |c: Column, value: sea_orm::Value| -> Condition {
            if descending {
                Condition::any()
                    .add(c.lt(value.clone()))
                    .add(Condition::all().add(c.eq(value)).add(Column::Id.lt(id)))
            } else {
                Condition::any()
                    .add(c.gt(value.clone()))
                    .add(Condition::all().add(c.eq(value)).add(Column::Id.gt(id)))
            }
        };
        let condition = match self {
            Self::Newest => Condition::all().add(Column::Id.lt(id)),
            Self::MostReactions | Self::MostCommented => {
                let key: i64 = key.parse().map_err(|_| bad())?;
                after(column.ok_or_else(bad)?, key.into())
            }
            Self::Trending => {
                let key: f64 = key.parse().map_err(|_| bad())?;
                after(Column::Trending, key.into())
            }
            Self::Overdue => {
                let micros: i64 = key.parse().map_err(|_| bad())?;
                let at = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(bad)?;
                after(Column::AnswerDeadline, at.into())
            }
        };
        Ok(query.filter(condition))
    }
}

/// The page size asked for, within the service's cap.
pub fn page_size(state: &State, asked: i32) -> Result<u64> {
    let max = state.settings.max_page_size;
    match asked {
        0 => Ok(Ord::min(20, max)),
        n if n < 0 => Err(Error::invalid("page_size", "must not be negative")),
        n => Ok(Ord::min(u64::try_from(n).unwrap_or(max), max)),
    }
}

/// Runs `query` for one page in `order`.
async fn page(
    state: &State,
    caller: &Caller<'_>,
    query: Select<inputs::Entity>,
    order: Order,
    size: u64,
) -> Result<proto::ListInputsResponse> {
    let rows = query.limit(size + 1).all(&state.db).await?;
    let more = rows.len() as u64 > size;
    let page: Vec<&inputs::Model> = rows
        .iter()
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .collect();
    let now = state.clock.now();
    Ok(proto::ListInputsResponse {
        next_page_token: match (more, page.last()) {
            (true, Some(last)) => order.token(last),
            _ => String::new(),
        },
        inputs: page.into_iter().map(|i| to_proto(i, caller, now)).collect(),
    })
}

pub async fn list(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ListInputsRequest,
) -> Result<proto::ListInputsResponse> {
    let size = page_size(state, request.page_size)?;
    let project = parse_uuid("project_id", &request.project_id)?;
    caller.visible_project(&state.db, project).await?;
    let mut query = inputs::Entity::find()
        .filter(inputs::Column::ProjectId.eq(project))
        .filter(inputs::Column::DeletedAt.is_null())
        .filter(inputs::Column::HiddenAt.is_null());
    if !request.phase_id.is_empty() {
        query =
            query.filter(inputs::Column::PhaseId.eq(parse_uuid("phase_id", &request.phase_id)?));
    }
    // Screened input is not public yet: the staff alone list it.
    if !caller.is_staff(&state.db, project).await? {
        query = query.filter(inputs::Column::Status.ne(Status::Prescreening.name()));
    }
    if request.status != proto::InputStatus::Unspecified as i32 {
        let status = Status::from_wire(request.status)
            .ok_or_else(|| Error::invalid("status", "is not an input status"))?;
        query = query.filter(inputs::Column::Status.eq(status.name()));
    }
    let topic = request.topic.trim().to_lowercase();
    if !topic.is_empty() {
        query = query.filter(
            inputs::Column::Id.in_subquery(
                Query::select()
                    .column(input_topics::Column::InputId)
                    .from(input_topics::Entity)
                    .and_where(input_topics::Column::ProjectId.eq(project))
                    .and_where(input_topics::Column::Topic.eq(topic))
                    .to_owned(),
            ),
        );
    }
    let author = request.author_id.trim();
    if !author.is_empty() {
        query = query.filter(inputs::Column::AuthorId.eq(author));
        // Filtering by author must not reveal who wrote anonymous inputs.
        if caller.subject() != Some(author) && !caller.is_admin() {
            query = query.filter(inputs::Column::Anonymous.eq(false));
        }
    }
    let order = if request.overdue_only {
        if !caller.is_staff(&state.db, project).await? {
            return Err(Error::PermissionDenied(
                "the overdue list is for the project's staff".to_owned(),
            ));
        }
        query = overdue_only(query, state.clock.now());
        Order::Overdue
    } else {
        Order::from_wire(request.sort)?
    };
    let query = order.apply(query, &request.page_token)?;
    page(state, caller, query, order, size).await
}

/// Keeps the inputs past their deadline at `now` without feedback.
pub fn overdue_only(query: Select<inputs::Entity>, now: DateTime<Utc>) -> Select<inputs::Entity> {
    query
        .filter(inputs::Column::FeedbackGiven.eq(false))
        .filter(inputs::Column::AnswerDeadline.lte(now))
}

/// One page of the overdue inputs of `project`, most overdue first.
pub async fn overdue_page(
    state: &State,
    caller: &Caller<'_>,
    project: Uuid,
    page_size_asked: i32,
    token: &str,
) -> Result<proto::ListInputsResponse> {
    let size = page_size(state, page_size_asked)?;
    let query = overdue_only(
        inputs::Entity::find()
            .filter(inputs::Column::ProjectId.eq(project))
            .filter(inputs::Column::DeletedAt.is_null()),
        state.clock.now(),
    );
    let query = Order::Overdue.apply(query, token)?;
    page(state, caller, query, Order::Overdue, size).await
}

/// The caller's own inputs across projects, newest first; hidden ones
/// included (the author still sees them).
pub async fn mine(
    state: &State,
    caller: &Caller<'_>,
    request: &proto::ListMyInputsRequest,
) -> Result<proto::ListInputsResponse> {
    let me = caller.principal()?.subject.clone();
    let size = page_size(state, request.page_size)?;
    let query = inputs::Entity::find()
        .filter(inputs::Column::AuthorId.eq(me))
        .filter(inputs::Column::DeletedAt.is_null());
    let query = Order::Newest.apply(query, &request.page_token)?;
    page(state, caller, query, Order::Newest, size).await
}
