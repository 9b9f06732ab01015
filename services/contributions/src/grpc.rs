//! The gRPC face of contributions: requests become domain calls, results and
//! errors become responses and statuses. No rule lives here.

use inspraak_kit::auth::principal;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::contributions::v1::contributions_server::Contributions;
use tonic::{Request, Response, Status};

use crate::access::Caller;
use crate::error::Error;
use crate::inputs;
use crate::state::State;

pub struct ContributionsApi {
    pub state: State,
}

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(result: Result<T, Error>) -> Reply<T> {
    result.map(Response::new).map_err(Status::from)
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
        reply(inputs::list(&self.state, &Caller(principal(&r)), r.get_ref()).await)
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
}
