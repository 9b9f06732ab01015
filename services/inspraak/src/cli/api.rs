//! The platform's public gRPC APIs as the command line calls them: one lazy
//! channel per service, every call signed with the context's session.

use std::collections::HashMap;
use std::future::Future;

use inspraak_proto::bus::v1::dead_letters_client::DeadLettersClient;
use inspraak_proto::contributions::v1::answers_client::AnswersClient;
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use inspraak_proto::identity::v1::identity_client::IdentityClient;
use inspraak_proto::notifications::v1::notifications_client::NotificationsClient;
use inspraak_proto::projects::v1::projects_client::ProjectsClient;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

use super::context::{Context, Service};
use super::failure::{Doing, Result};
use super::session::{Tokens, bearer};

pub struct Api {
    pub context: Context,
    pub tokens: Tokens,
    channels: HashMap<Service, Channel>,
}

impl Api {
    pub fn new(context: Context) -> Result<Self> {
        Ok(Self {
            tokens: Tokens::new(&context)?,
            context,
            channels: HashMap::new(),
        })
    }

    pub fn channel(&mut self, service: Service) -> Result<Channel> {
        if let Some(channel) = self.channels.get(&service) {
            return Ok(channel.clone());
        }
        let channel = self.context.channel(service)?;
        self.channels.insert(service, channel.clone());
        Ok(channel)
    }

    pub fn identity(&mut self) -> Result<IdentityClient<Channel>> {
        Ok(IdentityClient::new(self.channel(Service::Identity)?))
    }

    pub fn projects(&mut self) -> Result<ProjectsClient<Channel>> {
        Ok(ProjectsClient::new(self.channel(Service::Projects)?))
    }

    pub fn contributions(&mut self) -> Result<ContributionsClient<Channel>> {
        Ok(ContributionsClient::new(
            self.channel(Service::Contributions)?,
        ))
    }

    pub fn answers(&mut self) -> Result<AnswersClient<Channel>> {
        Ok(AnswersClient::new(self.channel(Service::Contributions)?))
    }

    pub fn notifications(&mut self) -> Result<NotificationsClient<Channel>> {
        Ok(NotificationsClient::new(
            self.channel(Service::Notifications)?,
        ))
    }

    pub fn dead_letters(&mut self, service: Service) -> Result<DeadLettersClient<Channel>> {
        Ok(DeadLettersClient::new(self.channel(service)?))
    }

    /// Calls `send` with `message` signed by the session; a call refused as
    /// unauthenticated (a token revoked or signed with a retired key) is
    /// retried once with a renewed token. `doing` names the call in errors.
    pub async fn call<M, R, F, Fut>(&mut self, doing: &str, message: M, send: F) -> Result<R>
    where
        M: Clone,
        F: Fn(Request<M>) -> Fut,
        Fut: Future<Output = std::result::Result<Response<R>, Status>>,
    {
        let token = self.tokens.access_token().await?;
        match send(bearer(message.clone(), &token)?).await {
            Err(status) if status.code() == Code::Unauthenticated => {
                let token = self.tokens.renew().await?;
                send(bearer(message, &token)?).await.doing(doing)
            }
            reply => reply.doing(doing),
        }
    }
}

/// `call!(api, projects.list_projects(request), "listing projects")`: an
/// authenticated call on one of [`Api`]'s clients.
macro_rules! call {
    ($api:expr, $client:ident . $method:ident ($message:expr), $doing:expr) => {{
        let client = $api.$client()?;
        $api.call($doing, $message, move |request| {
            let mut client = client.clone();
            async move { client.$method(request).await }
        })
        .await
    }};
}
pub(crate) use call;
