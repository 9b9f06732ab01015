//! Who may do what in contributions, cell by cell: every caller against
//! every guarded call, on PostgreSQL and SQLite. Among the cells: a
//! manager of project A cannot answer, moderate or read internal comments
//! in project B; a resident cannot edit another's input; an anonymous
//! input never shows its author to other residents.

mod support;

use std::collections::HashMap;

use chrono::Duration;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::projects::v1 as projects;
use projects::Permission;
use support::{Backend, Platform, Who, ideation, phase};
use tonic::Code;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    SignedOut,
    Resident,
    Author,
    ManagerA,
    ContactA,
    ManagerB,
    Admin,
}

const ROLES: [Role; 7] = [
    Role::SignedOut,
    Role::Resident,
    Role::Author,
    Role::ManagerA,
    Role::ContactA,
    Role::ManagerB,
    Role::Admin,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    ReadAnonymousAuthor,
    ReadHistoryOfAnonymous,
    EditInput,
    DeleteInput,
    SetStatus,
    PublishFeedback,
    BulkAnswer,
    ListOverdue,
    PostInternalComment,
    SeeInternalComments,
    Hide,
    ListQueue,
    ReadAudit,
    ListMyInputs,
    Export,
}

const OPS: [Op; 15] = [
    Op::ReadAnonymousAuthor,
    Op::ReadHistoryOfAnonymous,
    Op::EditInput,
    Op::DeleteInput,
    Op::SetStatus,
    Op::PublishFeedback,
    Op::BulkAnswer,
    Op::ListOverdue,
    Op::PostInternalComment,
    Op::SeeInternalComments,
    Op::Hide,
    Op::ListQueue,
    Op::ReadAudit,
    Op::ListMyInputs,
    Op::Export,
];

/// What a cell must give: success (for reads, with the secret shown or
/// not), or a refusal with its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// Succeeds, and the author (or the internal comment) is visible.
    Shown,
    /// Succeeds, and the author (or the internal comment) is not visible.
    Withheld,
    Refused(Code),
}

fn expected(op: Op, role: Role) -> Outcome {
    use Outcome::{Ok, Refused, Shown, Withheld};
    use Role::{Admin, Author, ContactA, ManagerA, ManagerB, Resident, SignedOut};
    let signed_out = Refused(Code::Unauthenticated);
    let denied = Refused(Code::PermissionDenied);
    match (op, role) {
        // The author of an anonymous input: only they and platform admins.
        (Op::ReadAnonymousAuthor | Op::ReadHistoryOfAnonymous, Author | Admin) => Shown,
        (Op::ReadAnonymousAuthor | Op::ReadHistoryOfAnonymous, _) => Withheld,
        // Only the author edits or deletes.
        (Op::EditInput | Op::DeleteInput, Author) => Ok,
        (Op::EditInput | Op::DeleteInput, SignedOut) => signed_out,
        (Op::EditInput | Op::DeleteInput, _) => denied,
        // Answering and moderating: the project's managers and admins.
        (
            Op::SetStatus
            | Op::PublishFeedback
            | Op::BulkAnswer
            | Op::Hide
            | Op::ListQueue
            | Op::ReadAudit,
            ManagerA | Admin,
        ) => Ok,
        (
            Op::SetStatus
            | Op::PublishFeedback
            | Op::BulkAnswer
            | Op::Hide
            | Op::ListQueue
            | Op::ReadAudit,
            SignedOut,
        ) => signed_out,
        (
            Op::SetStatus
            | Op::PublishFeedback
            | Op::BulkAnswer
            | Op::Hide
            | Op::ListQueue
            | Op::ReadAudit,
            _,
        ) => denied,
        // The overdue list and internal comments: the project's whole team.
        (Op::ListOverdue | Op::PostInternalComment, ManagerA | ContactA | Admin) => Ok,
        (Op::ListOverdue | Op::PostInternalComment, SignedOut) => signed_out,
        (Op::ListOverdue | Op::PostInternalComment, _) => denied,
        (Op::SeeInternalComments, ManagerA | ContactA | Admin) => Shown,
        (Op::SeeInternalComments, _) => Withheld,
        (Op::ListMyInputs | Op::Export, SignedOut) => signed_out,
        (
            Op::ListMyInputs | Op::Export,
            Resident | Author | ManagerA | ContactA | ManagerB | Admin,
        ) => Ok,
    }
}

struct World {
    plan: projects::Project,
    people: HashMap<&'static str, Who>,
}

impl World {
    fn who(&self, role: Role) -> Option<&Who> {
        let key = match role {
            Role::SignedOut => return None,
            Role::Resident => "resident",
            Role::Author => "author",
            Role::ManagerA => "manager_a",
            Role::ContactA => "contact_a",
            Role::ManagerB => "manager_b",
            Role::Admin => "admin",
        };
        self.people.get(key)
    }
}

async fn world(platform: &Platform) -> World {
    let people: HashMap<&'static str, Who> = [
        ("resident", platform.resident()),
        ("author", platform.resident()),
        ("manager_a", platform.resident()),
        ("contact_a", platform.resident()),
        ("manager_b", platform.resident()),
        ("admin", platform.admin()),
    ]
    .into_iter()
    .collect();
    let now = platform.now();
    let open = || {
        vec![phase(
            now - Duration::days(1),
            Some(now + Duration::days(30)),
            ideation(),
            Permission::Registered,
        )]
    };
    let mut plan = support::project(&people["manager_a"], open());
    plan.team = Some(projects::Team {
        manager_ids: vec![people["manager_a"].id.clone()],
        communication_contact_id: people["contact_a"].id.clone(),
    });
    platform
        .project_changed("projects.project.published.v1", &plan, 1)
        .await;
    let other = support::project(&people["manager_b"], open());
    platform
        .project_changed("projects.project.published.v1", &other, 1)
        .await;
    World { plan, people }
}

/// A fresh anonymous input by the author, with an internal comment by
/// manager A.
async fn fixture(platform: &Platform, world: &World) -> proto::Input {
    let input = platform
        .client()
        .create_input(platform.by(
            proto::CreateInputRequest {
                project_id: world.plan.id.clone(),
                phase_id: world.plan.phases[0].id.clone(),
                title: "Anoniem voorstel".to_owned(),
                body: "Wie schreef dit?".to_owned(),
                anonymous: true,
                ..Default::default()
            },
            world.who(Role::Author),
        ))
        .await
        .expect("the author posts")
        .into_inner();
    platform
        .discussion()
        .post_comment(platform.by(
            proto::PostCommentRequest {
                input_id: input.id.clone(),
                body: "Intern: budget nakijken".to_owned(),
                internal: true,
                ..Default::default()
            },
            world.who(Role::ManagerA),
        ))
        .await
        .expect("an internal note");
    input
}

fn target(input: &proto::Input) -> Option<proto::ModerationTarget> {
    Some(proto::ModerationTarget {
        target: Some(proto::moderation_target::Target::InputId(input.id.clone())),
    })
}

fn body() -> HashMap<String, String> {
    HashMap::from([("nl".to_owned(), "Bedankt".to_owned())])
}

/// Runs `op` as `role` on a fresh fixture and says what happened.
async fn run(platform: &Platform, world: &World, op: Op, role: Role) -> Outcome {
    let input = fixture(platform, world).await;
    let who = world.who(role);
    let author = &world.who(Role::Author).expect("the author").id;
    let refused = |status: tonic::Status| Outcome::Refused(status.code());
    let by = |ok: bool| {
        if ok {
            Outcome::Shown
        } else {
            Outcome::Withheld
        }
    };
    macro_rules! call {
        ($client:expr, $method:ident, $request:expr) => {
            $client
                .$method(platform.by($request, who))
                .await
                .map(tonic::Response::into_inner)
        };
    }
    match op {
        Op::ReadAnonymousAuthor => match call!(
            platform.client(),
            get_input,
            proto::GetInputRequest {
                id: input.id.clone()
            }
        ) {
            Ok(read) => by(read.author_id == *author),
            Err(status) => refused(status),
        },
        Op::ReadHistoryOfAnonymous => match call!(
            platform.answers(),
            get_history,
            proto::GetHistoryRequest {
                input_id: input.id.clone()
            }
        ) {
            Ok(history) => by(history.entries.iter().any(|e| e.actor_id == *author)),
            Err(status) => refused(status),
        },
        Op::EditInput => outcome(call!(
            platform.client(),
            update_input,
            proto::UpdateInputRequest {
                id: input.id.clone(),
                title: "Een nieuwe titel".to_owned(),
                update_mask: vec!["title".to_owned()],
                ..Default::default()
            }
        )),
        Op::DeleteInput => outcome(call!(
            platform.client(),
            delete_input,
            proto::DeleteInputRequest {
                id: input.id.clone()
            }
        )),
        Op::SetStatus => outcome(call!(
            platform.answers(),
            set_status,
            proto::SetStatusRequest {
                input_id: input.id.clone(),
                status: proto::InputStatus::UnderConsideration as i32,
                etag: String::new(),
            }
        )),
        Op::PublishFeedback => outcome(call!(
            platform.answers(),
            publish_feedback,
            proto::PublishFeedbackRequest {
                input_id: input.id.clone(),
                body: body(),
                signed_by: "Dienst Mobiliteit".to_owned(),
                status: 0,
            }
        )),
        Op::BulkAnswer => outcome(call!(
            platform.answers(),
            bulk_answer,
            proto::BulkAnswerRequest {
                project_id: world.plan.id.clone(),
                input_ids: vec![input.id.clone()],
                body: body(),
                signed_by: "Kernteam".to_owned(),
                status: 0,
            }
        )),
        Op::ListOverdue => outcome(call!(
            platform.answers(),
            list_overdue,
            proto::ListOverdueRequest {
                project_id: world.plan.id.clone(),
                ..Default::default()
            }
        )),
        Op::PostInternalComment => outcome(call!(
            platform.discussion(),
            post_comment,
            proto::PostCommentRequest {
                input_id: input.id.clone(),
                body: "Nog een interne notitie".to_owned(),
                internal: true,
                ..Default::default()
            }
        )),
        Op::SeeInternalComments => match call!(
            platform.discussion(),
            list_comments,
            proto::ListCommentsRequest {
                input_id: input.id.clone(),
                ..Default::default()
            }
        ) {
            Ok(list) => by(list.comments.iter().any(|c| c.internal)),
            Err(status) => refused(status),
        },
        Op::Hide => outcome(call!(
            platform.moderation(),
            hide,
            proto::ModerateRequest {
                target: target(&input),
                note: String::new(),
            }
        )),
        Op::ListQueue => outcome(call!(
            platform.moderation(),
            list_queue,
            proto::ListQueueRequest {
                project_id: world.plan.id.clone(),
                ..Default::default()
            }
        )),
        Op::ReadAudit => outcome(call!(
            platform.moderation(),
            get_audit,
            proto::GetAuditRequest {
                target: target(&input),
            }
        )),
        Op::ListMyInputs => outcome(call!(
            platform.client(),
            list_my_inputs,
            proto::ListMyInputsRequest::default()
        )),
        Op::Export => outcome(call!(
            platform.client(),
            export_my_contributions,
            proto::ExportMyContributionsRequest {}
        )),
    }
}

fn outcome<T>(result: Result<T, tonic::Status>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(status) => Outcome::Refused(status.code()),
    }
}

async fn the_matrix_holds(backend: Backend) {
    let platform = Platform::start(backend).await;
    let world = world(&platform).await;
    let mut checked = 0;
    let mut wrong = Vec::new();
    for op in OPS {
        for role in ROLES {
            let got = run(&platform, &world, op, role).await;
            let want = expected(op, role);
            if got != want {
                wrong.push(format!(
                    "{op:?} as {role:?}: expected {want:?}, got {got:?}"
                ));
            }
            checked += 1;
        }
    }
    println!("authorisation matrix: {checked} cells checked");
    assert_eq!(checked, OPS.len() * ROLES.len());
    assert!(
        wrong.is_empty(),
        "{} wrong cells:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

inspraak_host::on_both_databases!(the_matrix_holds);
