//! The gRPC face of contributions, one file per service: requests become
//! domain calls, results and errors become responses and statuses. No rule
//! lives here.

mod answers;
mod discussion;
mod inputs;
mod moderation;
mod voting;

pub use answers::AnswersApi;
pub use discussion::DiscussionApi;
pub use inputs::ContributionsApi;
pub use moderation::ModerationApi;
pub use voting::VotingApi;

use tonic::{Response, Status};

use crate::error::Error;

pub(crate) type Reply<T> = Result<Response<T>, Status>;

pub(crate) fn reply<T>(result: Result<T, Error>) -> Reply<T> {
    result.map(Response::new).map_err(Status::from)
}
