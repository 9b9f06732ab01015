//! The city `inspraak demo` seeds, as the tests that put a production
//! platform under load use it: its residents signed in, its first project,
//! and ideas to post there.

use std::time::Duration;

use inspraak_proto::contributions::v1::CreateInputRequest;
use inspraak_proto::identity::v1::LoginRequest;
use inspraak_proto::identity::v1::identity_client::IdentityClient;
use inspraak_proto::projects::v1::GetProjectRequest;
use inspraak_proto::projects::v1::projects_client::ProjectsClient;
use tonic::transport::Channel;

use super::Platform;

/// The password `inspraak demo` gives its accounts by default.
pub const PASSWORD: &str = "demo-city-2026";

/// The demo's first project, open for ideas.
#[derive(Debug, Clone)]
pub struct Project {
    pub id: String,
    pub phase_id: String,
    pub managers: Vec<String>,
}

/// A lazily connected channel to `url`.
pub fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_owned())
        .expect("a URL")
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy()
}

/// Access tokens of the first `n` demo residents (`seeded` is what
/// `inspraak demo -o json` printed).
pub async fn residents(platform: &Platform, seeded: &serde_json::Value, n: usize) -> Vec<String> {
    let identity = channel(platform.url("identity"));
    let mut tokens = Vec::new();
    let residents = seeded["residents"]
        .as_array()
        .unwrap_or_else(|| panic!("the demo's residents: {seeded}"));
    for email in residents.iter().take(n) {
        let email = email.as_str().expect("an address");
        let session = IdentityClient::new(identity.clone())
            .login(LoginRequest {
                email: email.to_owned(),
                password: PASSWORD.to_owned(),
            })
            .await
            .unwrap_or_else(|status| panic!("{email} signs in: {status:?}"))
            .into_inner();
        tokens.push(session.access_token);
    }
    assert_eq!(tokens.len(), n, "the demo has {n} residents");
    tokens
}

/// The demo's first project, as projects shows it.
pub async fn first_project(platform: &Platform, seeded: &serde_json::Value) -> Project {
    let id = seeded["projects"][0]
        .get(1)
        .or_else(|| seeded["projects"][0].get("id"))
        .and_then(|id| id.as_str())
        .unwrap_or_else(|| panic!("the demo's first project: {seeded}"))
        .to_owned();
    let project = ProjectsClient::new(channel(platform.url("projects")))
        .get_project(GetProjectRequest { id: id.clone() })
        .await
        .expect("the demo's project")
        .into_inner();
    Project {
        id,
        phase_id: project.phases.first().expect("a phase").id.clone(),
        managers: project.team.expect("a team").manager_ids,
    }
}

/// An idea titled `Idea <request_id>` on `project`, posted with `token`.
pub fn idea(
    project: &Project,
    request_id: &str,
    token: &str,
    deadline: Duration,
) -> tonic::Request<CreateInputRequest> {
    let mut request = tonic::Request::new(CreateInputRequest {
        project_id: project.id.clone(),
        phase_id: project.phase_id.clone(),
        title: format!("Idea {request_id}"),
        body: "A bench by the canal.".to_owned(),
        request_id: request_id.to_owned(),
        ..Default::default()
    });
    request.set_timeout(deadline);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("a header"),
    );
    request
}
