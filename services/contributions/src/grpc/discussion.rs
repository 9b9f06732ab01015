//! The `Discussion` service: comments, reactions and follows.

use inspraak_kit::auth::principal;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::contributions::v1::discussion_server::Discussion;
use proto::{follow_request, unfollow_request};
use tonic::Request;

use super::{Reply, reply};
use crate::access::Caller;
use crate::follows::{self, Named};
use crate::state::State;
use crate::{comments, reactions};

pub struct DiscussionApi {
    pub state: State,
}

#[tonic::async_trait]
impl Discussion for DiscussionApi {
    async fn post_comment(&self, r: Request<proto::PostCommentRequest>) -> Reply<proto::Comment> {
        reply(comments::post(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn update_comment(
        &self,
        r: Request<proto::UpdateCommentRequest>,
    ) -> Reply<proto::Comment> {
        reply(comments::update(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn delete_comment(
        &self,
        r: Request<proto::DeleteCommentRequest>,
    ) -> Reply<proto::DeleteCommentResponse> {
        reply(comments::delete(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn list_comments(
        &self,
        r: Request<proto::ListCommentsRequest>,
    ) -> Reply<proto::ListCommentsResponse> {
        reply(comments::list(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn react(&self, r: Request<proto::ReactRequest>) -> Reply<proto::ReactionSummary> {
        reply(reactions::react(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn unreact(&self, r: Request<proto::UnreactRequest>) -> Reply<proto::ReactionSummary> {
        reply(reactions::unreact(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn follow(&self, r: Request<proto::FollowRequest>) -> Reply<proto::FollowResponse> {
        let named = r.get_ref().target.as_ref().map(|t| match t {
            follow_request::Target::InputId(id) => Named::Input(id),
            follow_request::Target::ProjectId(id) => Named::Project(id),
        });
        reply(follows::follow(&self.state, &Caller(principal(&r)), named).await)
    }

    async fn unfollow(&self, r: Request<proto::UnfollowRequest>) -> Reply<proto::FollowResponse> {
        let named = r.get_ref().target.as_ref().map(|t| match t {
            unfollow_request::Target::InputId(id) => Named::Input(id),
            unfollow_request::Target::ProjectId(id) => Named::Project(id),
        });
        reply(follows::unfollow(&self.state, &Caller(principal(&r)), named).await)
    }

    async fn list_my_follows(
        &self,
        r: Request<proto::ListMyFollowsRequest>,
    ) -> Reply<proto::ListMyFollowsResponse> {
        reply(follows::mine(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }
}
