//! Who may call what: every RPC of `inspraak.projects.v1.Projects` for every
//! kind of caller, as data, against a published public project with a phase.
//!
//! A cell is denied when the call answers UNAUTHENTICATED (anonymous, where a
//! caller is required), PERMISSION_DENIED, or NOT_FOUND (a read of a project
//! the caller may not see). Any other answer is allowed: the requests are
//! minimal, so a validation error or a failed precondition means the caller
//! got past authorisation. The allowed answers change nothing, so the cells
//! do not depend on their order.

mod support;

use chrono::Duration;
use inspraak_proto::projects::v1 as proto;
use support::{Backend, Platform, Who, authed, everyone_registered, ideation, nl, ts};
use tonic::{Code, Request, Status};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Admin,
    /// A project manager of the project under test (with a department).
    Manager,
    /// A project manager of another project (with a department).
    OtherManager,
    CommunicationOfficer,
    DecisionMaker,
    Resident,
    Anonymous,
}

const CALLERS: [Caller; 7] = [
    Caller::Admin,
    Caller::Manager,
    Caller::OtherManager,
    Caller::CommunicationOfficer,
    Caller::DecisionMaker,
    Caller::Resident,
    Caller::Anonymous,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rpc {
    GetPublicSettings,
    GetPlatformSettings,
    UpdatePlatformSettings,
    SubmitProposal,
    ReviseProposal,
    GetProposal,
    ListProposals,
    ReviewProposal,
    ListFolders,
    CreateFolder,
    GetProject,
    ListProjects,
    UpdateProject,
    PublishProject,
    UnpublishProject,
    ArchiveProject,
    SetProjectTeam,
    CreatePhase,
    UpdatePhase,
    DeletePhase,
    SetMilestone,
    DeleteMilestone,
    PostUpdate,
    ListUpdates,
    GetTimeline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Allowed,
    Denied(Code),
}

/// Allowed.
const Y: Expect = Expect::Allowed;
/// PERMISSION_DENIED.
const D: Expect = Expect::Denied(Code::PermissionDenied);
/// UNAUTHENTICATED.
const U: Expect = Expect::Denied(Code::Unauthenticated);
/// NOT_FOUND: the project is not the caller's to see.
const N: Expect = Expect::Denied(Code::NotFound);

/// The rules, as projects.proto states them. The proposal under test was
/// submitted by this project's manager; both managers have a department,
/// the communication officer, the decision-maker and the resident have none.
#[rustfmt::skip]
const MATRIX: [(Rpc, [Expect; 7]); 25] = [
    //                           admin  mgr  other  comm  decide  res  anon
    (Rpc::GetPublicSettings,      [Y,    Y,   Y,     Y,    Y,      Y,   Y]),
    (Rpc::GetPlatformSettings,    [Y,    D,   D,     D,    D,      D,   U]),
    (Rpc::UpdatePlatformSettings, [Y,    D,   D,     D,    D,      D,   U]),
    (Rpc::SubmitProposal,         [Y,    Y,   Y,     D,    D,      D,   U]),
    (Rpc::ReviseProposal,         [D,    Y,   D,     D,    D,      D,   U]),
    (Rpc::GetProposal,            [Y,    Y,   D,     D,    D,      D,   U]),
    (Rpc::ListProposals,          [Y,    Y,   Y,     Y,    Y,      Y,   U]),
    (Rpc::ReviewProposal,         [Y,    D,   D,     D,    D,      D,   U]),
    (Rpc::ListFolders,            [Y,    Y,   Y,     Y,    Y,      Y,   Y]),
    (Rpc::CreateFolder,           [Y,    D,   D,     D,    D,      D,   U]),
    (Rpc::GetProject,             [Y,    Y,   Y,     Y,    Y,      Y,   Y]),
    (Rpc::ListProjects,           [Y,    Y,   Y,     Y,    Y,      Y,   Y]),
    (Rpc::UpdateProject,          [Y,    Y,   D,     D,    D,      D,   U]),
    (Rpc::PublishProject,         [Y,    D,   D,     D,    D,      D,   U]),
    (Rpc::UnpublishProject,       [Y,    D,   D,     D,    D,      D,   U]),
    (Rpc::ArchiveProject,         [Y,    D,   D,     D,    D,      D,   U]),
    (Rpc::SetProjectTeam,         [Y,    D,   D,     D,    D,      D,   U]),
    (Rpc::CreatePhase,            [Y,    Y,   D,     D,    D,      D,   U]),
    (Rpc::UpdatePhase,            [Y,    Y,   D,     D,    D,      D,   U]),
    (Rpc::DeletePhase,            [Y,    Y,   D,     D,    D,      D,   U]),
    (Rpc::SetMilestone,           [Y,    Y,   D,     D,    D,      D,   U]),
    (Rpc::DeleteMilestone,        [Y,    Y,   D,     D,    D,      D,   U]),
    (Rpc::PostUpdate,             [Y,    Y,   D,     Y,    D,      D,   U]),
    (Rpc::ListUpdates,            [Y,    Y,   Y,     Y,    Y,      Y,   Y]),
    (Rpc::GetTimeline,            [Y,    Y,   Y,     Y,    Y,      Y,   Y]),
];

/// The reads of a draft (managed by this project's manager): its team and
/// admins see it; to everyone else it does not exist.
#[rustfmt::skip]
const DRAFT_READS: [(Rpc, [Expect; 7]); 4] = [
    //                           admin  mgr  other  comm  decide  res  anon
    (Rpc::GetProject,             [Y,    Y,   N,     N,    N,      N,   N]),
    (Rpc::ListProjects,           [Y,    Y,   N,     N,    N,      N,   N]),
    (Rpc::ListUpdates,            [Y,    Y,   N,     N,    N,      N,   N]),
    (Rpc::GetTimeline,            [Y,    Y,   N,     N,    N,      N,   N]),
];

struct Fixture {
    platform: Platform,
    admin: Who,
    manager: Who,
    other_manager: Who,
    officer: Who,
    decision_maker: Who,
    resident: Who,
    /// Published, public, with a phase that has started.
    project: proto::Project,
    /// A draft managed by `manager`.
    draft: proto::Project,
    /// Archived.
    archived: proto::Project,
    /// Submitted by `manager`, waiting for a decision.
    proposal: proto::Proposal,
}

impl Fixture {
    async fn new(backend: Backend) -> Self {
        let platform = Platform::start(backend).await;
        let admin = platform.admin();
        let manager = platform.person(&[], &["public-space"]);
        let other_manager = platform.person(&[], &["mobility"]);
        let officer = platform.person(&["communication_officer"], &[]);
        let decision_maker = platform.person(&["decision_maker"], &[]);
        let resident = platform.resident();

        let project = platform.project(&admin, &manager, -1, Some(30)).await;
        let project = platform
            .client()
            .publish_project(authed(
                proto::PublishProjectRequest {
                    id: project.id.clone(),
                },
                &admin.token,
            ))
            .await
            .expect("the project under test is published")
            .into_inner();
        assert_eq!(project.visibility(), proto::Visibility::Public);
        assert_eq!(project.phases.len(), 1);
        platform.project(&admin, &other_manager, 1, Some(30)).await;
        let draft = platform.project(&admin, &manager, 5, Some(20)).await;
        let archived = platform.project(&admin, &manager, 5, Some(20)).await;
        let archived = platform
            .client()
            .archive_project(authed(
                proto::ArchiveProjectRequest {
                    id: archived.id.clone(),
                },
                &admin.token,
            ))
            .await
            .expect("a project archived")
            .into_inner();
        let proposal = platform
            .client()
            .submit_proposal(authed(
                proto::SubmitProposalRequest {
                    title: Some(nl("Speelplein")),
                    goal: Some(nl("Een plek om te spelen")),
                    department_id: "public-space".to_owned(),
                    intended_phases: Vec::new(),
                    communication_plan: None,
                    request_id: String::new(),
                },
                &manager.token,
            ))
            .await
            .expect("the manager proposes a project")
            .into_inner();
        Self {
            platform,
            admin,
            manager,
            other_manager,
            officer,
            decision_maker,
            resident,
            project,
            draft,
            archived,
            proposal,
        }
    }

    fn who(&self, caller: Caller) -> Option<&Who> {
        match caller {
            Caller::Admin => Some(&self.admin),
            Caller::Manager => Some(&self.manager),
            Caller::OtherManager => Some(&self.other_manager),
            Caller::CommunicationOfficer => Some(&self.officer),
            Caller::DecisionMaker => Some(&self.decision_maker),
            Caller::Resident => Some(&self.resident),
            Caller::Anonymous => None,
        }
    }

    /// `rpc` as `caller` sends it, minimal, about `target`.
    async fn call(&self, rpc: Rpc, caller: Caller, target: &proto::Project) -> Result<(), Status> {
        let who = self.who(caller);
        let mut client = self.platform.client();
        let id = target.id.clone();
        match rpc {
            Rpc::GetPublicSettings => client
                .get_public_settings(by(proto::GetPublicSettingsRequest {}, who))
                .await
                .map(done),
            Rpc::GetPlatformSettings => client
                .get_platform_settings(by(proto::GetPlatformSettingsRequest {}, who))
                .await
                .map(done),
            Rpc::UpdatePlatformSettings => client
                .update_platform_settings(by(proto::UpdatePlatformSettingsRequest::default(), who))
                .await
                .map(done),
            Rpc::SubmitProposal => client
                .submit_proposal(by(proto::SubmitProposalRequest::default(), who))
                .await
                .map(done),
            Rpc::ReviseProposal => client
                .revise_proposal(by(
                    proto::ReviseProposalRequest {
                        id: self.proposal.id.clone(),
                        ..Default::default()
                    },
                    who,
                ))
                .await
                .map(done),
            Rpc::GetProposal => client
                .get_proposal(by(
                    proto::GetProposalRequest {
                        id: self.proposal.id.clone(),
                    },
                    who,
                ))
                .await
                .map(done),
            Rpc::ListProposals => client
                .list_proposals(by(proto::ListProposalsRequest::default(), who))
                .await
                .map(done),
            Rpc::ReviewProposal => client
                .review_proposal(by(
                    proto::ReviewProposalRequest {
                        id: self.proposal.id.clone(),
                        decision: proto::ReviewDecision::Approve as i32,
                        reason: String::new(),
                        etag: String::new(),
                    },
                    who,
                ))
                .await
                .map(done),
            Rpc::ListFolders => client
                .list_folders(by(proto::ListFoldersRequest {}, who))
                .await
                .map(done),
            Rpc::CreateFolder => client
                .create_folder(by(proto::CreateFolderRequest::default(), who))
                .await
                .map(done),
            Rpc::GetProject => client
                .get_project(by(proto::GetProjectRequest { id }, who))
                .await
                .map(done),
            Rpc::ListProjects => {
                // Allowed means listed.
                let listed = client
                    .list_projects(by(
                        proto::ListProjectsRequest {
                            page_size: 100,
                            ..Default::default()
                        },
                        who,
                    ))
                    .await?
                    .into_inner();
                if listed.projects.iter().any(|p| p.id == id) {
                    Ok(())
                } else {
                    Err(Status::not_found("the project is not listed"))
                }
            }
            Rpc::UpdateProject => client
                .update_project(by(
                    proto::UpdateProjectRequest {
                        id,
                        ..Default::default()
                    },
                    who,
                ))
                .await
                .map(done),
            Rpc::PublishProject => client
                .publish_project(by(proto::PublishProjectRequest { id }, who))
                .await
                .map(done),
            // Only admins may; the target does not matter to that, so the
            // draft, which an allowed call leaves a draft.
            Rpc::UnpublishProject => client
                .unpublish_project(by(
                    proto::UnpublishProjectRequest {
                        id: self.draft.id.clone(),
                    },
                    who,
                ))
                .await
                .map(done),
            // Likewise: the archived project stays archived.
            Rpc::ArchiveProject => client
                .archive_project(by(
                    proto::ArchiveProjectRequest {
                        id: self.archived.id.clone(),
                    },
                    who,
                ))
                .await
                .map(done),
            Rpc::SetProjectTeam => client
                .set_project_team(by(
                    proto::SetProjectTeamRequest {
                        project_id: id,
                        team: None,
                    },
                    who,
                ))
                .await
                .map(done),
            Rpc::CreatePhase => client
                .create_phase(by(
                    proto::CreatePhaseRequest {
                        project_id: id,
                        phase: None,
                    },
                    who,
                ))
                .await
                .map(done),
            Rpc::UpdatePhase => client
                .update_phase(by(
                    proto::UpdatePhaseRequest {
                        project_id: id,
                        phase: None,
                        etag: String::new(),
                    },
                    who,
                ))
                .await
                .map(done),
            // The phase has started: an allowed call is refused as such.
            Rpc::DeletePhase => client
                .delete_phase(by(
                    proto::DeletePhaseRequest {
                        project_id: id,
                        phase_id: target.phases[0].id.clone(),
                    },
                    who,
                ))
                .await
                .map(done),
            Rpc::SetMilestone => client
                .set_milestone(by(
                    proto::SetMilestoneRequest {
                        project_id: id,
                        milestone: None,
                    },
                    who,
                ))
                .await
                .map(done),
            Rpc::DeleteMilestone => client
                .delete_milestone(by(
                    proto::DeleteMilestoneRequest {
                        project_id: id,
                        milestone_id: String::new(),
                    },
                    who,
                ))
                .await
                .map(done),
            Rpc::PostUpdate => client
                .post_update(by(
                    proto::PostUpdateRequest {
                        project_id: id,
                        ..Default::default()
                    },
                    who,
                ))
                .await
                .map(done),
            Rpc::ListUpdates => client
                .list_updates(by(
                    proto::ListUpdatesRequest {
                        project_id: id,
                        ..Default::default()
                    },
                    who,
                ))
                .await
                .map(done),
            Rpc::GetTimeline => client
                .get_timeline(by(proto::GetTimelineRequest { project_id: id }, who))
                .await
                .map(done),
        }
    }

    /// Runs every cell of `table` about `target`; returns how many, and a
    /// line for each that did not answer as expected.
    async fn check(
        &self,
        table: &[(Rpc, [Expect; 7])],
        target: &proto::Project,
        label: &str,
    ) -> (usize, Vec<String>) {
        let mut checked = 0;
        let mut mismatches = Vec::new();
        for (rpc, row) in table {
            for (caller, expected) in CALLERS.iter().zip(row) {
                let outcome = self.call(*rpc, *caller, target).await;
                checked += 1;
                let denied = |code: Code| {
                    matches!(
                        code,
                        Code::Unauthenticated | Code::PermissionDenied | Code::NotFound
                    )
                };
                let as_expected = match (expected, &outcome) {
                    (Expect::Allowed, Ok(())) => true,
                    (Expect::Allowed, Err(status)) => !denied(status.code()),
                    (Expect::Denied(code), Err(status)) => status.code() == *code,
                    (Expect::Denied(_), Ok(())) => false,
                };
                if !as_expected {
                    let got = match &outcome {
                        Ok(()) => "OK".to_owned(),
                        Err(status) => format!("{:?} ({})", status.code(), status.message()),
                    };
                    mismatches.push(format!(
                        "{label}: {rpc:?} by {caller:?}: expected {expected:?}, got {got}"
                    ));
                }
            }
        }
        (checked, mismatches)
    }
}

/// What a call answered, when only its status matters.
fn done<T>(_: T) {}

/// `message` as `who` sends it; anonymous when `who` is `None`.
fn by<T>(message: T, who: Option<&Who>) -> Request<T> {
    match who {
        Some(who) => authed(message, &who.token),
        None => Request::new(message),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorisation_matrix() {
    let fixture = Fixture::new(Backend::Postgres).await;
    let rpcs: std::collections::BTreeSet<String> =
        MATRIX.iter().map(|(rpc, _)| format!("{rpc:?}")).collect();
    assert_eq!(rpcs.len(), 25, "each of the 25 RPCs once");

    let (checked, mut mismatches) = fixture
        .check(&MATRIX, &fixture.project, "published public project")
        .await;
    println!("authorisation matrix: {checked} cells checked");
    let (draft_checked, draft_mismatches) =
        fixture.check(&DRAFT_READS, &fixture.draft, "draft").await;
    println!("draft visibility: {draft_checked} cells checked");
    mismatches.extend(draft_mismatches);
    assert_eq!(checked, 175, "7 callers × 25 RPCs");
    assert!(
        mismatches.is_empty(),
        "{} of {} cells did not answer as expected:\n{}",
        mismatches.len(),
        checked + draft_checked,
        mismatches.join("\n")
    );

    // The allowed calls changed nothing: every cell saw the same state.
    let admin = &fixture.admin;
    let mut client = fixture.platform.client();
    for (before, state) in [
        (&fixture.project, proto::ProjectState::Published),
        (&fixture.draft, proto::ProjectState::Draft),
        (&fixture.archived, proto::ProjectState::Archived),
    ] {
        let after = client
            .get_project(authed(
                proto::GetProjectRequest {
                    id: before.id.clone(),
                },
                &admin.token,
            ))
            .await
            .expect("the project")
            .into_inner();
        assert_eq!(after.state(), state);
        assert_eq!(after.etag, before.etag, "the matrix changed a project");
    }
    let proposal = client
        .get_proposal(authed(
            proto::GetProposalRequest {
                id: fixture.proposal.id.clone(),
            },
            &admin.token,
        ))
        .await
        .expect("the proposal")
        .into_inner();
    assert_eq!(
        proposal.etag, fixture.proposal.etag,
        "the matrix changed the proposal"
    );
    let folders = client
        .list_folders(Request::new(proto::ListFoldersRequest {}))
        .await
        .expect("the folders")
        .into_inner();
    assert!(folders.folders.is_empty(), "the matrix created a folder");
}

/// The changes to the project under test that only its managers (and
/// admins) may make.
#[derive(Clone, Copy, Debug)]
enum Change {
    Title,
    Visibility,
    NewPhase,
    RetitledPhase,
    NewMilestone,
    ReplacedMilestone,
    RemovedMilestone,
    RemovedPhase,
}

const CHANGES: [Change; 8] = [
    Change::Title,
    Change::Visibility,
    Change::NewPhase,
    Change::RetitledPhase,
    Change::NewMilestone,
    Change::ReplacedMilestone,
    Change::RemovedMilestone,
    Change::RemovedPhase,
];

/// `change` to `project` by `who`; `phase` has not started, `milestone` is
/// the project's.
async fn make(
    platform: &Platform,
    change: Change,
    who: &Who,
    project: &str,
    phase: &proto::Phase,
    milestone: &proto::Milestone,
) -> Result<(), Status> {
    let mut client = platform.client();
    let project_id = project.to_owned();
    let now = platform.now();
    let done = |_| ();
    match change {
        Change::Title => client
            .update_project(authed(
                proto::UpdateProjectRequest {
                    id: project_id,
                    title: Some(nl("Overgenomen")),
                    update_mask: vec!["title".to_owned()],
                    ..Default::default()
                },
                &who.token,
            ))
            .await
            .map(done),
        Change::Visibility => client
            .update_project(authed(
                proto::UpdateProjectRequest {
                    id: project_id,
                    visibility: proto::Visibility::Registered as i32,
                    update_mask: vec!["visibility".to_owned()],
                    ..Default::default()
                },
                &who.token,
            ))
            .await
            .map(done),
        Change::NewPhase => client
            .create_phase(authed(
                proto::CreatePhaseRequest {
                    project_id,
                    phase: Some(proto::Phase {
                        id: String::new(),
                        title: Some(nl("Peiling")),
                        description: None,
                        starts_at: Some(ts(now + Duration::days(50))),
                        ends_at: Some(ts(now + Duration::days(60))),
                        method: Some(ideation()),
                        permissions: Some(everyone_registered()),
                    }),
                },
                &who.token,
            ))
            .await
            .map(done),
        Change::RetitledPhase => client
            .update_phase(authed(
                proto::UpdatePhaseRequest {
                    project_id,
                    phase: Some(proto::Phase {
                        title: Some(nl("Stemronde")),
                        ..phase.clone()
                    }),
                    etag: String::new(),
                },
                &who.token,
            ))
            .await
            .map(done),
        Change::NewMilestone => client
            .set_milestone(authed(
                proto::SetMilestoneRequest {
                    project_id,
                    milestone: Some(proto::Milestone {
                        id: String::new(),
                        title: Some(nl("Infoavond")),
                        at: Some(ts(now + Duration::days(10))),
                    }),
                },
                &who.token,
            ))
            .await
            .map(done),
        Change::ReplacedMilestone => client
            .set_milestone(authed(
                proto::SetMilestoneRequest {
                    project_id,
                    milestone: Some(proto::Milestone {
                        title: Some(nl("Gemeenteraad beslist")),
                        ..milestone.clone()
                    }),
                },
                &who.token,
            ))
            .await
            .map(done),
        Change::RemovedMilestone => client
            .delete_milestone(authed(
                proto::DeleteMilestoneRequest {
                    project_id,
                    milestone_id: milestone.id.clone(),
                },
                &who.token,
            ))
            .await
            .map(done),
        Change::RemovedPhase => client
            .delete_phase(authed(
                proto::DeletePhaseRequest {
                    project_id,
                    phase_id: phase.id.clone(),
                },
                &who.token,
            ))
            .await
            .map(done),
    }
}

/// A manager of another project is refused each change to this project's
/// details, phases and milestones, and changes nothing; the same requests
/// by this project's manager then succeed, so the refusals were about who
/// asked, not what.
async fn another_projects_manager_cannot_change_this_project(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let platform = &fixture.platform;
    let project = &fixture.project;
    let now = platform.now();
    let mut client = platform.client();
    // A phase that has not started and a milestone, to change and remove.
    let planned = client
        .create_phase(authed(
            proto::CreatePhaseRequest {
                project_id: project.id.clone(),
                phase: Some(proto::Phase {
                    id: String::new(),
                    title: Some(nl("Stemmen")),
                    description: None,
                    starts_at: Some(ts(now + Duration::days(30))),
                    ends_at: Some(ts(now + Duration::days(40))),
                    method: Some(ideation()),
                    permissions: Some(everyone_registered()),
                }),
            },
            &fixture.manager.token,
        ))
        .await
        .expect("the manager plans a phase")
        .into_inner();
    let phase = planned
        .phases
        .iter()
        .find(|p| p.title == Some(nl("Stemmen")))
        .expect("the planned phase")
        .clone();
    let milestone = client
        .set_milestone(authed(
            proto::SetMilestoneRequest {
                project_id: project.id.clone(),
                milestone: Some(proto::Milestone {
                    id: String::new(),
                    title: Some(nl("Gemeenteraad")),
                    at: Some(ts(now + Duration::days(45))),
                }),
            },
            &fixture.manager.token,
        ))
        .await
        .expect("the manager sets a milestone")
        .into_inner()
        .milestones[0]
        .clone();
    let read = || {
        let mut client = platform.client();
        let request = authed(
            proto::GetProjectRequest {
                id: project.id.clone(),
            },
            &fixture.admin.token,
        );
        async move {
            client
                .get_project(request)
                .await
                .expect("the project")
                .into_inner()
        }
    };

    let before = read().await;
    for change in CHANGES {
        let status = make(
            platform,
            change,
            &fixture.other_manager,
            &project.id,
            &phase,
            &milestone,
        )
        .await
        .expect_err("another project's manager is refused");
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "{change:?} by another project's manager: {status:?}"
        );
    }
    let after = read().await;
    assert_eq!(after, before, "another project's manager changed nothing");
    assert_eq!(text(after.title.as_ref()), text(project.title.as_ref()));
    assert_eq!(after.visibility(), proto::Visibility::Public);
    assert_eq!(after.phases.len(), 2);
    assert_eq!(after.milestones, std::slice::from_ref(&milestone));

    for change in CHANGES {
        make(
            platform,
            change,
            &fixture.manager,
            &project.id,
            &phase,
            &milestone,
        )
        .await
        .unwrap_or_else(|status| panic!("{change:?} by the project's manager: {status:?}"));
    }
    let changed = read().await;
    assert_eq!(text(changed.title.as_ref()), "Overgenomen");
    assert_eq!(changed.visibility(), proto::Visibility::Registered);
    assert!(changed.phases.iter().all(|p| p.id != phase.id));
    assert!(changed.milestones.iter().all(|m| m.id != milestone.id));
    assert_eq!(changed.milestones.len(), 1, "the new milestone stays");
}

fn text(localized: Option<&proto::LocalizedText>) -> &str {
    localized
        .and_then(|t| t.text.get("nl"))
        .map_or("", String::as_str)
}

inspraak_host::on_both_databases!(another_projects_manager_cannot_change_this_project);
