//! The `Voting` service: input costs, baskets and results.

use inspraak_kit::auth::principal;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::contributions::v1::voting_server::Voting;
use tonic::Request;

use super::{Reply, reply};
use crate::access::Caller;
use crate::state::State;
use crate::voting;

pub struct VotingApi {
    pub state: State,
}

#[tonic::async_trait]
impl Voting for VotingApi {
    async fn set_input_cost(&self, r: Request<proto::SetInputCostRequest>) -> Reply<proto::Input> {
        reply(voting::set_input_cost(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn get_basket(&self, r: Request<proto::GetBasketRequest>) -> Reply<proto::Basket> {
        reply(voting::get_basket(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn add_to_basket(&self, r: Request<proto::BasketItemRequest>) -> Reply<proto::Basket> {
        reply(voting::add_to_basket(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn remove_from_basket(
        &self,
        r: Request<proto::BasketItemRequest>,
    ) -> Reply<proto::Basket> {
        reply(voting::remove_from_basket(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn submit_basket(&self, r: Request<proto::SubmitBasketRequest>) -> Reply<proto::Basket> {
        reply(voting::submit_basket(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn get_results(
        &self,
        r: Request<proto::GetResultsRequest>,
    ) -> Reply<proto::GetResultsResponse> {
        reply(voting::results(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }
}
