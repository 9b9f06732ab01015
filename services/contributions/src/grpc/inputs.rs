//! The `Contributions` service: inputs.

use inspraak_kit::auth::principal;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::contributions::v1::contributions_server::Contributions;
use tonic::Request;

use super::{Reply, reply};
use crate::access::Caller;
use crate::state::State;
use crate::{inputs, listing};

pub struct ContributionsApi {
    pub state: State,
}

#[tonic::async_trait]
impl Contributions for ContributionsApi {
    async fn create_input(&self, r: Request<proto::CreateInputRequest>) -> Reply<proto::Input> {
        reply(inputs::create(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn get_input(&self, r: Request<proto::GetInputRequest>) -> Reply<proto::Input> {
        reply(inputs::get(&self.state, &Caller(principal(&r)), &r.get_ref().id).await)
    }

    async fn list_inputs(
        &self,
        r: Request<proto::ListInputsRequest>,
    ) -> Reply<proto::ListInputsResponse> {
        reply(listing::list(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn list_my_inputs(
        &self,
        r: Request<proto::ListMyInputsRequest>,
    ) -> Reply<proto::ListInputsResponse> {
        reply(listing::mine(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn update_input(&self, r: Request<proto::UpdateInputRequest>) -> Reply<proto::Input> {
        reply(inputs::update(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn delete_input(
        &self,
        r: Request<proto::DeleteInputRequest>,
    ) -> Reply<proto::DeleteInputResponse> {
        reply(inputs::delete(&self.state, &Caller(principal(&r)), &r.get_ref().id).await)
    }

    async fn get_statistics(
        &self,
        r: Request<proto::GetStatisticsRequest>,
    ) -> Reply<proto::Statistics> {
        reply(crate::statistics::get(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn export_my_contributions(
        &self,
        r: Request<proto::ExportMyContributionsRequest>,
    ) -> Reply<proto::ExportMyContributionsResponse> {
        reply(crate::gdpr::export(&self.state, &Caller(principal(&r))).await)
    }
}
