//! The `Moderation` service: reports, the queue, the audit, and the
//! moderators' decisions.

use inspraak_kit::auth::principal;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::contributions::v1::moderation_server::Moderation;
use tonic::Request;

use super::{Reply, reply};
use crate::access::Caller;
use crate::moderation::{self, Decision};
use crate::state::State;

pub struct ModerationApi {
    pub state: State,
}

#[tonic::async_trait]
impl Moderation for ModerationApi {
    async fn report(&self, r: Request<proto::ReportRequest>) -> Reply<proto::ReportResponse> {
        reply(moderation::report(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn list_queue(
        &self,
        r: Request<proto::ListQueueRequest>,
    ) -> Reply<proto::ListQueueResponse> {
        reply(moderation::queue(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn get_audit(
        &self,
        r: Request<proto::GetAuditRequest>,
    ) -> Reply<proto::GetAuditResponse> {
        reply(moderation::audit(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn hide(&self, r: Request<proto::ModerateRequest>) -> Reply<proto::ModerationItem> {
        let caller = Caller(principal(&r));
        reply(moderation::decide(&self.state, &caller, r.get_ref(), Decision::Hide).await)
    }

    async fn restore(&self, r: Request<proto::ModerateRequest>) -> Reply<proto::ModerationItem> {
        let caller = Caller(principal(&r));
        reply(moderation::decide(&self.state, &caller, r.get_ref(), Decision::Restore).await)
    }

    async fn dismiss(&self, r: Request<proto::ModerateRequest>) -> Reply<proto::ModerationItem> {
        let caller = Caller(principal(&r));
        reply(moderation::decide(&self.state, &caller, r.get_ref(), Decision::Dismiss).await)
    }
}
