//! A read with everything a real call has: getting a project from the
//! projects service on PostgreSQL, with a bearer token verified on every
//! call and the tracing and metrics layers on. Measured as deployed (the
//! project's phases, milestones and team kept by version, one query per
//! read) and with that cache off (`PROJECT_VIEW_CACHE=0`, four queries).

use std::sync::Arc;

use inspraak_host::testing::{Shared, TestServer, authed};
use inspraak_kit::auth::PrincipalKind;
use inspraak_kit::testing::TestDatabase;
use inspraak_projects::{ProjectsService, ProjectsSettings};
use inspraak_proto::projects::v1 as proto;
use inspraak_proto::projects::v1::projects_client::ProjectsClient;
use tonic::transport::Channel;

use crate::drive::{Operation, operation, status};
use crate::servers::{ServerRuntime, connect};

pub struct ReadSetup {
    pub channel: Channel,
    pub project_id: String,
    pub token: String,
    pub database: TestDatabase,
    server: TestServer,
    _shared: Shared,
}

fn nl(text: &str) -> proto::LocalizedText {
    proto::LocalizedText {
        text: [("nl".to_owned(), text.to_owned())].into(),
    }
}

impl ReadSetup {
    /// Projects on a fresh database, with one project made the way a city
    /// makes one: a proposal, approved by an admin; the service with
    /// `settings` (its view cache on or off).
    pub async fn start(
        runtime: &ServerRuntime,
        settings: ProjectsSettings,
    ) -> Result<Self, String> {
        let (server, database, shared) = runtime
            .run(async move {
                let database = TestDatabase::postgres().await;
                let shared = Shared::new().await;
                let server =
                    TestServer::start(ProjectsService::new(settings), &database, &shared).await;
                (server, database, shared)
            })
            .await?;
        let channel = connect(server.running.addr).await?;
        let now = shared.clock.now();
        let keys = &shared.keys;
        let token_of = |roles: &[&str], departments: &[&str]| {
            let id = uuid::Uuid::now_v7().to_string();
            let mut claims = keys.claims(PrincipalKind::Person, &id, roles, now);
            claims.departments = departments.iter().map(|d| (*d).to_owned()).collect();
            keys.sign(&claims)
        };
        let admin = token_of(&["platform_admin"], &[]);
        let proposer = token_of(&[], &["public-space"]);
        let mut client = ProjectsClient::new(channel.clone());
        let proposal = client
            .submit_proposal(authed(
                proto::SubmitProposalRequest {
                    title: Some(nl("Een park")),
                    goal: Some(nl("Meer groen in de wijk")),
                    department_id: "public-space".to_owned(),
                    intended_phases: vec![proto::IntendedPhase {
                        title: Some(nl("Ideeën")),
                        method: Some(proto::ParticipationMethod {
                            method: Some(proto::participation_method::Method::Ideation(
                                proto::Ideation { dislikes: false },
                            )),
                        }),
                        starts_at: Some(prost_types::Timestamp {
                            seconds: now.timestamp() + 86_400,
                            nanos: 0,
                        }),
                        ends_at: None,
                    }],
                    communication_plan: None,
                    request_id: String::new(),
                },
                &proposer,
            ))
            .await
            .map_err(|e| format!("submitting the benchmark's project proposal: {e}"))?
            .into_inner();
        let approved = client
            .review_proposal(authed(
                proto::ReviewProposalRequest {
                    id: proposal.id,
                    decision: proto::ReviewDecision::Approve as i32,
                    reason: "benchmark".to_owned(),
                    etag: String::new(),
                },
                &admin,
            ))
            .await
            .map_err(|e| format!("approving the benchmark's project proposal: {e}"))?
            .into_inner();
        let project_id = approved
            .project
            .ok_or("an approved proposal without its project")?
            .id;
        Ok(Self {
            channel,
            project_id,
            token: admin,
            server,
            database,
            _shared: shared,
        })
    }

    /// GetProject by an admin (a draft project is the team's and admins'):
    /// token verification, the handler's authorisation and the reads.
    pub fn operation(&self) -> Arc<impl Operation> {
        let (channel, id, token) = (
            self.channel.clone(),
            self.project_id.clone(),
            self.token.clone(),
        );
        operation(move |_, _| {
            let mut client = ProjectsClient::new(channel.clone());
            let request = authed(proto::GetProjectRequest { id: id.clone() }, &token);
            async move {
                client
                    .get_project(request)
                    .await
                    .map(|_| ())
                    .map_err(|e| status(&e))
            }
        })
    }

    pub async fn stop(self, runtime: &ServerRuntime) {
        let server = self.server;
        let _ = runtime.run(server.stop()).await;
    }
}
