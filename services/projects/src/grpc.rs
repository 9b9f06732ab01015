//! The gRPC face of projects: requests become domain calls, results and
//! errors become responses and statuses. No rule lives here.

use inspraak_kit::auth::principal;
use inspraak_proto::projects::v1 as proto;
use inspraak_proto::projects::v1::projects_server::Projects;
use tonic::{Request, Response, Status};

use crate::access::Caller;
use crate::error::Error;
use crate::state::State;
use crate::{content, phases, projects, proposals, settings_store};

pub struct ProjectsApi {
    pub state: State,
}

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(result: Result<T, Error>) -> Reply<T> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl Projects for ProjectsApi {
    async fn get_public_settings(
        &self,
        _r: Request<proto::GetPublicSettingsRequest>,
    ) -> Reply<proto::PublicSettings> {
        reply(
            settings_store::current(&self.state.db)
                .await
                .map(|c| c.settings.public()),
        )
    }

    async fn get_platform_settings(
        &self,
        r: Request<proto::GetPlatformSettingsRequest>,
    ) -> Reply<proto::PlatformSettings> {
        let caller = Caller(principal(&r));
        let outcome = async {
            caller.require_admin()?;
            Ok(settings_store::current(&self.state.db).await?.to_proto())
        };
        reply(outcome.await)
    }

    async fn update_platform_settings(
        &self,
        r: Request<proto::UpdatePlatformSettingsRequest>,
    ) -> Reply<proto::PlatformSettings> {
        reply(
            settings_store::update(&self.state, &Caller(principal(&r)), r.get_ref())
                .await
                .map(|c| c.to_proto()),
        )
    }

    async fn submit_proposal(
        &self,
        r: Request<proto::SubmitProposalRequest>,
    ) -> Reply<proto::Proposal> {
        reply(proposals::submit(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn revise_proposal(
        &self,
        r: Request<proto::ReviseProposalRequest>,
    ) -> Reply<proto::Proposal> {
        reply(proposals::revise(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn get_proposal(&self, r: Request<proto::GetProposalRequest>) -> Reply<proto::Proposal> {
        reply(proposals::get(&self.state, &Caller(principal(&r)), &r.get_ref().id).await)
    }

    async fn list_proposals(
        &self,
        r: Request<proto::ListProposalsRequest>,
    ) -> Reply<proto::ListProposalsResponse> {
        reply(proposals::list(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn review_proposal(
        &self,
        r: Request<proto::ReviewProposalRequest>,
    ) -> Reply<proto::ReviewProposalResponse> {
        reply(proposals::review(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn list_folders(
        &self,
        _r: Request<proto::ListFoldersRequest>,
    ) -> Reply<proto::ListFoldersResponse> {
        reply(content::list_folders(&self.state).await)
    }

    async fn create_folder(&self, r: Request<proto::CreateFolderRequest>) -> Reply<proto::Folder> {
        reply(content::create_folder(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn get_project(&self, r: Request<proto::GetProjectRequest>) -> Reply<proto::Project> {
        reply(projects::get(&self.state, &Caller(principal(&r)), &r.get_ref().id).await)
    }

    async fn list_projects(
        &self,
        r: Request<proto::ListProjectsRequest>,
    ) -> Reply<proto::ListProjectsResponse> {
        reply(projects::list(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn update_project(
        &self,
        r: Request<proto::UpdateProjectRequest>,
    ) -> Reply<proto::Project> {
        reply(projects::update(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn publish_project(
        &self,
        r: Request<proto::PublishProjectRequest>,
    ) -> Reply<proto::Project> {
        reply(projects::publish(&self.state, &Caller(principal(&r)), &r.get_ref().id).await)
    }

    async fn unpublish_project(
        &self,
        r: Request<proto::UnpublishProjectRequest>,
    ) -> Reply<proto::Project> {
        reply(projects::unpublish(&self.state, &Caller(principal(&r)), &r.get_ref().id).await)
    }

    async fn archive_project(
        &self,
        r: Request<proto::ArchiveProjectRequest>,
    ) -> Reply<proto::Project> {
        reply(projects::archive(&self.state, &Caller(principal(&r)), &r.get_ref().id).await)
    }

    async fn set_project_team(
        &self,
        r: Request<proto::SetProjectTeamRequest>,
    ) -> Reply<proto::Project> {
        reply(projects::set_team(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn create_phase(&self, r: Request<proto::CreatePhaseRequest>) -> Reply<proto::Project> {
        reply(phases::create(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn update_phase(&self, r: Request<proto::UpdatePhaseRequest>) -> Reply<proto::Project> {
        reply(phases::update(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn delete_phase(&self, r: Request<proto::DeletePhaseRequest>) -> Reply<proto::Project> {
        reply(phases::delete(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn set_milestone(&self, r: Request<proto::SetMilestoneRequest>) -> Reply<proto::Project> {
        reply(content::set_milestone(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn delete_milestone(
        &self,
        r: Request<proto::DeleteMilestoneRequest>,
    ) -> Reply<proto::Project> {
        reply(content::delete_milestone(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn post_update(
        &self,
        r: Request<proto::PostUpdateRequest>,
    ) -> Reply<proto::ProjectUpdate> {
        reply(content::post_update(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn list_updates(
        &self,
        r: Request<proto::ListUpdatesRequest>,
    ) -> Reply<proto::ListUpdatesResponse> {
        reply(content::list_updates(&self.state, &Caller(principal(&r)), r.get_ref()).await)
    }

    async fn get_timeline(&self, r: Request<proto::GetTimelineRequest>) -> Reply<proto::Timeline> {
        reply(content::timeline(&self.state, &Caller(principal(&r)), &r.get_ref().project_id).await)
    }
}
