//! Projects, started for real, with tokens minted for whoever a test needs.

#![allow(dead_code)] // each test binary uses part of this module

use chrono::{DateTime, Duration, Utc};
pub use inspraak_host::testing::{Shared, TestServer, authed};
use inspraak_kit::auth::PrincipalKind;
use inspraak_kit::testing::TestDatabase;
use inspraak_projects::{ProjectsService, ProjectsSettings};
use inspraak_proto::projects::v1 as proto;
use inspraak_proto::projects::v1::projects_client::ProjectsClient;
use tonic::transport::Channel;

pub use inspraak_host::testing::Backend;

pub struct Platform {
    pub server: TestServer,
    pub shared: Shared,
    pub database: TestDatabase,
}

/// A caller: a user id and a token.
#[derive(Clone, Debug)]
pub struct Who {
    pub id: String,
    pub token: String,
}

impl Platform {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, ProjectsSettings::defaults()).await
    }

    pub async fn start_with(backend: Backend, settings: ProjectsSettings) -> Self {
        let database = backend.database().await;
        let shared = Shared::new().await;
        let server = TestServer::start(ProjectsService::new(settings), &database, &shared).await;
        Self {
            server,
            shared,
            database,
        }
    }

    pub fn client(&self) -> ProjectsClient<Channel> {
        ProjectsClient::new(self.server.channel.clone())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    /// A person with `roles` and `departments`; a fresh id unless given.
    pub fn person(&self, roles: &[&str], departments: &[&str]) -> Who {
        let id = uuid::Uuid::now_v7().to_string();
        let mut claims = self
            .shared
            .keys
            .claims(PrincipalKind::Person, &id, roles, self.now());
        claims.departments = departments.iter().map(|d| (*d).to_owned()).collect();
        Who {
            token: self.shared.keys.sign(&claims),
            id,
        }
    }

    pub fn admin(&self) -> Who {
        self.person(&["platform_admin"], &[])
    }

    pub fn resident(&self) -> Who {
        self.person(&[], &[])
    }

    /// A draft project with one phase from `from` to `to` days from now,
    /// managed by `manager`.
    pub async fn project(
        &self,
        admin: &Who,
        manager: &Who,
        from_days: i64,
        to_days: Option<i64>,
    ) -> proto::Project {
        let mut client = self.client();
        let proposal = client
            .submit_proposal(authed(
                proto::SubmitProposalRequest {
                    title: Some(nl("Een park")),
                    goal: Some(nl("Meer groen in de wijk")),
                    department_id: "public-space".to_owned(),
                    intended_phases: vec![proto::IntendedPhase {
                        title: Some(nl("Ideeën")),
                        method: Some(ideation()),
                        starts_at: Some(ts(self.now() + Duration::days(from_days))),
                        ends_at: to_days.map(|d| ts(self.now() + Duration::days(d))),
                    }],
                    communication_plan: None,
                    request_id: String::new(),
                },
                &self.person(&[], &["public-space"]).token,
            ))
            .await
            .expect("submit")
            .into_inner();
        let approved = client
            .review_proposal(authed(
                proto::ReviewProposalRequest {
                    id: proposal.id,
                    decision: proto::ReviewDecision::Approve as i32,
                    reason: "past the core team".to_owned(),
                    etag: String::new(),
                },
                &admin.token,
            ))
            .await
            .expect("approve")
            .into_inner();
        let project = approved.project.expect("a draft project");
        client
            .set_project_team(authed(
                proto::SetProjectTeamRequest {
                    project_id: project.id.clone(),
                    team: Some(proto::Team {
                        manager_ids: vec![manager.id.clone()],
                        communication_contact_id: String::new(),
                    }),
                },
                &admin.token,
            ))
            .await
            .expect("team")
            .into_inner()
    }
}

pub fn nl(text: &str) -> proto::LocalizedText {
    proto::LocalizedText {
        text: [("nl".to_owned(), text.to_owned())].into(),
    }
}

pub fn ts(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

pub fn ideation() -> proto::ParticipationMethod {
    proto::ParticipationMethod {
        method: Some(proto::participation_method::Method::Ideation(
            proto::Ideation { dislikes: false },
        )),
    }
}

pub fn everyone_registered() -> proto::ActionPermissions {
    let registered = proto::Permission::Registered as i32;
    proto::ActionPermissions {
        post: registered,
        comment: registered,
        react: registered,
        vote: registered,
    }
}
