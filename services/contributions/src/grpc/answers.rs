//! The `Answers` service: statuses, official feedback, bulk answers and the
//! overdue list.

use inspraak_kit::auth::principal;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::contributions::v1::answers_server::Answers;
use tonic::Request;

use super::{Reply, reply};
use crate::access::Caller;
use crate::answers;
use crate::state::State;

pub struct AnswersApi {
    pub state: State,
}

#[tonic::async_trait]
impl Answers for AnswersApi {
    async fn set_status(&self, r: Request<proto::SetStatusRequest>) -> Reply<proto::Input> {
        reply(answers::set_status(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn publish_feedback(
        &self,
        r: Request<proto::PublishFeedbackRequest>,
    ) -> Reply<proto::PublishFeedbackResponse> {
        reply(answers::publish_feedback(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn update_feedback(
        &self,
        r: Request<proto::UpdateFeedbackRequest>,
    ) -> Reply<proto::Feedback> {
        reply(answers::update_feedback(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn list_feedback(
        &self,
        r: Request<proto::ListFeedbackRequest>,
    ) -> Reply<proto::ListFeedbackResponse> {
        reply(answers::list_feedback(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn get_history(
        &self,
        r: Request<proto::GetHistoryRequest>,
    ) -> Reply<proto::GetHistoryResponse> {
        reply(answers::history(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn bulk_answer(
        &self,
        r: Request<proto::BulkAnswerRequest>,
    ) -> Reply<proto::BulkAnswerResponse> {
        reply(answers::bulk_answer(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn list_overdue(
        &self,
        r: Request<proto::ListOverdueRequest>,
    ) -> Reply<proto::ListOverdueResponse> {
        reply(answers::list_overdue(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }
}
