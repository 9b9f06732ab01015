//! `inspraak demo`: a small city on a running platform, made through the
//! same public APIs the city's front ends use — departments, a core team,
//! staff, two published projects with phases, residents, ideas, comments,
//! reactions and an official answer.
//!
//! Running it again changes nothing that is there already: creations carry
//! request ids derived from their names, existing accounts are signed in to,
//! decided proposals are not decided again.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::Utc;
use inspraak_proto::contributions::v1::answers_client::AnswersClient;
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use inspraak_proto::contributions::v1::discussion_client::DiscussionClient;
use inspraak_proto::contributions::v1::{
    CreateInputRequest, InputStatus, ListCommentsRequest, PostCommentRequest,
    PublishFeedbackRequest, ReactRequest, ReactionDirection,
};
use inspraak_proto::identity::v1::identity_client::IdentityClient;
use inspraak_proto::identity::v1::{
    AddDepartmentMemberRequest, GetRegistrationPolicyRequest, GrantRoleRequest, LoginRequest,
    PlatformRole, RegisterRequest, User,
};
use inspraak_proto::projects::v1::projects_client::ProjectsClient;
use inspraak_proto::projects::v1::{
    GetProjectRequest, GetProposalRequest, GetPublicSettingsRequest, Ideation, IntendedPhase,
    LocalizedText, ParticipationMethod, Project, ProjectState, PublishProjectRequest,
    ReviewDecision, ReviewProposalRequest, SetProjectTeamRequest, SubmitProposalRequest, Team,
    Voting, participation_method, voting,
};
use serde_json::json;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

use crate::cli::api::{Api, call};
use crate::cli::context::Service;
use crate::cli::failure::{Doing, Failure, Kind, Result};
use crate::cli::output::Outcome;
use crate::cli::progress::Progress;
use crate::cli::session::bearer;
use crate::cli::tasks::departments::{self, request_id};
use crate::cli::tasks::people::find_user;
use crate::cli::words::{localized, timestamp};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Password of the demo's staff and residents (they are made only if
    /// missing; on a real platform choose one)
    #[arg(
        long,
        env = "INSPRAAK_DEMO_PASSWORD",
        default_value = "demo-city-2026",
        hide_env_values = true
    )]
    pub password: String,
    /// Domain of the demo's addresses [default: the first staff domain of
    /// the registration policy, else example.org]
    #[arg(long)]
    pub domain: Option<String>,
}

/// What the demo made, for the summary.
#[derive(Default)]
struct Seeded {
    departments: Vec<String>,
    staff: Vec<(String, String)>,
    residents: Vec<String>,
    projects: Vec<(String, String)>,
    /// The proposal left for review.
    waiting_proposal: Option<String>,
    inputs: usize,
    comments: usize,
    reactions: usize,
    notes: Vec<String>,
}

struct Person {
    email: String,
    user: User,
    token: String,
}

const RESIDENTS: [&str; 5] = ["Amira", "Bram", "Chloé", "Dries", "Elif"];

/// (project, ideas as (author index, title, body))
const IDEAS: [(usize, usize, &str, &str); 6] = [
    (
        0,
        0,
        "More trees on the square",
        "Shade in summer and a place for birds: plant a row of lime trees along the market side.",
    ),
    (
        0,
        1,
        "A drinking-water fountain",
        "Market visitors and children would use a fountain near the playground.",
    ),
    (
        0,
        2,
        "Car-free on Sundays",
        "Close the square to cars on Sunday mornings so the market can spread out.",
    ),
    (
        1,
        3,
        "School street at 8:15 and 15:30",
        "Close the street in front of the school to through traffic when children arrive and leave.",
    ),
    (
        1,
        4,
        "Wider pavement on Church Lane",
        "Parents with prams have to walk on the road; widen the pavement on one side.",
    ),
    (
        1,
        0,
        "A lollipop person at the crossing",
        "A crossing guard at the busy corner would make walking to school safer.",
    ),
];

pub async fn run(api: &mut Api, args: DemoArgs, quiet: bool) -> Result<Outcome> {
    // The demo acts as the signed-in admin: an anonymous or resident session
    // fails here, before anything is made.
    let me = call!(
        api,
        identity.get_me(inspraak_proto::identity::v1::GetMeRequest {}),
        "reading your profile"
    )?;
    if !me
        .roles
        .iter()
        .any(|r| r.role == PlatformRole::PlatformAdmin as i32)
    {
        return Err(Failure::new(
            Kind::Forbidden,
            format!(
                "the demo is seeded by a platform admin; {} is not one",
                me.email
            ),
        ));
    }
    let admin_token = api.tokens.access_token().await?;
    let identity = IdentityClient::new(api.channel(Service::Identity)?);
    let projects = ProjectsClient::new(api.channel(Service::Projects)?);
    let contributions = ContributionsClient::new(api.channel(Service::Contributions)?);
    let discussion = DiscussionClient::new(api.channel(Service::Contributions)?);
    let answers = AnswersClient::new(api.channel(Service::Contributions)?);

    let settings = projects
        .clone()
        .get_public_settings(GetPublicSettingsRequest {})
        .await
        .doing("reading the platform's locales")?;
    let locale = settings
        .locales
        .first()
        .cloned()
        .unwrap_or_else(|| "en".to_owned());
    let text = |s: &str| {
        Some(LocalizedText {
            text: [(locale.clone(), s.to_owned())].into_iter().collect(),
        })
    };
    let policy = identity
        .clone()
        .get_registration_policy(GetRegistrationPolicyRequest {})
        .await
        .doing("reading the registration policy")?;
    let domain = args
        .domain
        .clone()
        .or_else(|| policy.staff_email_domains.first().cloned())
        .unwrap_or_else(|| "example.org".to_owned());

    // departments, staff, proposals, projects, residents, ideas, comments
    // and reactions, an answer
    let mut progress = Progress::new("seeding the demo city", 8, quiet);
    let mut seeded = Seeded::default();

    let mut department_ids = Vec::new();
    for name in ["Public space", "Mobility", "Social affairs"] {
        let department = match departments::create(api, name).await {
            Ok(department) => department,
            // Made before under another request id: use it.
            Err(failure) if failure.kind == Kind::Refused => departments::list(api, true)
                .await?
                .into_iter()
                .find(|d| d.name.eq_ignore_ascii_case(name))
                .ok_or(failure)?,
            Err(failure) => return Err(failure),
        };
        department_ids.push(department.id.clone());
        seeded.departments.push(department.name);
    }
    progress.step("departments");

    let staff = [
        (
            "core-team",
            "Core team member",
            Some((PlatformRole::PlatformAdmin, true)),
        ),
        ("manager", "Project manager", None),
        (
            "communication",
            "Communication officer",
            Some((PlatformRole::CommunicationOfficer, false)),
        ),
        (
            "decision-maker",
            "Alderman",
            Some((PlatformRole::DecisionMaker, false)),
        ),
    ];
    let mut people = Vec::new();
    for (handle, name, role) in staff {
        let email = format!("demo.{handle}@{domain}");
        let mut person = account(api, &identity, &email, name, &locale, &args.password).await?;
        if let Some((role, reviewer)) = role
            && !person.user.roles.iter().any(|r| r.role == role as i32)
        {
            let granted = call!(
                api,
                identity.grant_role(GrantRoleRequest {
                    user_id: person.user.id.clone(),
                    role: role as i32,
                    project_reviewer: reviewer,
                }),
                "granting a demo role"
            );
            match granted {
                Ok(user) => person.user = user,
                // The core team is capped: a full one stays as it is.
                Err(failure) if failure.kind == Kind::Refused => seeded
                    .notes
                    .push(format!("{email} did not get its role: {failure}")),
                Err(failure) => return Err(failure),
            }
        }
        seeded.staff.push((email, name.to_owned()));
        people.push(person);
    }
    let [_, manager, communication, _] = <[Person; 4]>::try_from(people)
        .map_err(|_| Failure::other("the demo's staff are incomplete"))?;
    // The manager belongs to the first two departments, and signs in again
    // so the token names them (proposals are made by a department's staff).
    for department_id in &department_ids[..2] {
        call!(
            api,
            identity.add_department_member(AddDepartmentMemberRequest {
                department_id: department_id.clone(),
                user_id: manager.user.id.clone(),
            }),
            "adding the manager to a department"
        )?;
    }
    let manager = account(
        api,
        &identity,
        &manager.email,
        "Project manager",
        &locale,
        &args.password,
    )
    .await?;
    progress.step("staff and core team");

    let now = Utc::now();
    let day = chrono::Duration::days(1);
    let plans = [
        (
            "Greener Market Square",
            "Make the market square a greener, cooler place to meet, with residents' ideas.",
            &department_ids[0],
        ),
        (
            "Safer school streets",
            "Ask parents and children what would make their way to school safer.",
            &department_ids[1],
        ),
    ];
    let mut project_ids = Vec::new();
    for (title, goal, department_id) in plans {
        let ideation = ParticipationMethod {
            method: Some(participation_method::Method::Ideation(Ideation {
                dislikes: false,
            })),
        };
        let voting = ParticipationMethod {
            method: Some(participation_method::Method::Voting(Voting {
                kind: Some(voting::Kind::Multiple(
                    inspraak_proto::projects::v1::MultipleVote { max_votes: 3 },
                )),
            })),
        };
        let proposal = as_user(
            &manager.token,
            "submitting a demo proposal",
            SubmitProposalRequest {
                title: text(title),
                goal: text(goal),
                department_id: department_id.clone(),
                intended_phases: vec![
                    IntendedPhase {
                        title: text("Ideas"),
                        method: Some(ideation),
                        starts_at: Some(timestamp(now - day)),
                        ends_at: Some(timestamp(now + day * 30)),
                    },
                    IntendedPhase {
                        title: text("Vote"),
                        method: Some(voting),
                        starts_at: Some(timestamp(now + day * 30)),
                        ends_at: Some(timestamp(now + day * 44)),
                    },
                ],
                communication_plan: text(
                    "Posters on the square, the city's newsletter and social media.",
                ),
                request_id: request_id("proposal", title),
            },
            |r| {
                let mut c = projects.clone();
                async move { c.submit_proposal(r).await }
            },
        )
        .await?;
        // Approved once; a second run finds the project it made.
        let project_id = if proposal.project_id.is_empty() {
            let current = call!(
                api,
                projects.get_proposal(GetProposalRequest {
                    id: proposal.id.clone()
                }),
                "reading the demo proposal"
            )?;
            let reply = call!(
                api,
                projects.review_proposal(ReviewProposalRequest {
                    id: proposal.id.clone(),
                    decision: ReviewDecision::Approve as i32,
                    reason: "Fits the charter; selected by the core team.".to_owned(),
                    etag: current.etag,
                }),
                "approving the demo proposal"
            )?;
            reply
                .project
                .map(|p| p.id)
                .or_else(|| reply.proposal.map(|p| p.project_id))
                .unwrap_or_default()
        } else {
            proposal.project_id
        };
        project_ids.push(project_id);
    }
    // A third proposal is left for the core team to review, so there is a
    // decision to take and a project to publish by hand.
    let waiting = as_user(
        &manager.token,
        "submitting a demo proposal",
        SubmitProposalRequest {
            title: text("Community garden on the old rail yard"),
            goal: text(
                "Turn the fenced-off rail yard into vegetable plots the neighbourhood runs.",
            ),
            department_id: department_ids[0].clone(),
            intended_phases: vec![IntendedPhase {
                title: text("Ideas for the garden"),
                method: Some(ParticipationMethod {
                    method: Some(participation_method::Method::Ideation(Ideation {
                        dislikes: false,
                    })),
                }),
                starts_at: Some(timestamp(now + day * 7)),
                ends_at: Some(timestamp(now + day * 37)),
            }],
            communication_plan: text("A walk on the site with the neighbours."),
            request_id: request_id("proposal", "Community garden on the old rail yard"),
        },
        |r| {
            let mut c = projects.clone();
            async move { c.submit_proposal(r).await }
        },
    )
    .await?;
    seeded.waiting_proposal = Some(waiting.id);
    progress.step("proposals");

    let mut published: Vec<Project> = Vec::new();
    for project_id in &project_ids {
        call!(
            api,
            projects.set_project_team(SetProjectTeamRequest {
                project_id: project_id.clone(),
                team: Some(Team {
                    manager_ids: vec![manager.user.id.clone()],
                    communication_contact_id: communication.user.id.clone(),
                }),
            }),
            "setting the demo project's team"
        )?;
        let project = call!(
            api,
            projects.get_project(GetProjectRequest {
                id: project_id.clone()
            }),
            "reading the demo project"
        )?;
        let project = if project.state == ProjectState::Draft as i32 {
            call!(
                api,
                projects.publish_project(PublishProjectRequest {
                    id: project_id.clone()
                }),
                "publishing the demo project"
            )?
        } else {
            project
        };
        seeded
            .projects
            .push((localized(&project.title), project.id.clone()));
        published.push(project);
    }
    progress.step("projects published");

    let mut residents = Vec::new();
    for name in RESIDENTS {
        let email = format!("demo.{}@{domain}", name.to_lowercase().replace('é', "e"));
        residents.push(account(api, &identity, &email, name, &locale, &args.password).await?);
        seeded.residents.push(email);
    }
    progress.step("residents");

    let mut inputs = Vec::new();
    for (project, author, title, body) in IDEAS {
        let project = &published[project];
        let phase_id = project
            .phases
            .first()
            .map(|p| p.id.clone())
            .unwrap_or_default();
        let request = CreateInputRequest {
            project_id: project.id.clone(),
            phase_id,
            title: title.to_owned(),
            body: body.to_owned(),
            request_id: request_id("input", title),
            ..CreateInputRequest::default()
        };
        // Contributions learns of a published project from its events: the
        // first inputs may have to wait a moment for that.
        let input = until_known(|| {
            as_user(
                &residents[author].token,
                "posting a demo idea",
                request.clone(),
                |r| {
                    let mut c = contributions.clone();
                    async move { c.create_input(r).await }
                },
            )
        })
        .await?;
        inputs.push(input);
        seeded.inputs += 1;
    }
    progress.step("ideas");

    for (i, input) in inputs.iter().enumerate() {
        // Everyone but the author supports the first idea of each project,
        // two residents the others.
        for (r, resident) in residents.iter().enumerate() {
            let author = IDEAS[i].1;
            if r == author || (i % 3 != 0 && r > 2) {
                continue;
            }
            as_user(
                &resident.token,
                "reacting to a demo idea",
                ReactRequest {
                    input_id: input.id.clone(),
                    direction: ReactionDirection::Up as i32,
                },
                |req| {
                    let mut c = discussion.clone();
                    async move { c.react(req).await }
                },
            )
            .await?;
            seeded.reactions += 1;
        }
        if i % 3 == 0 {
            let existing = as_user(
                &admin_token,
                "reading the demo comments",
                ListCommentsRequest {
                    input_id: input.id.clone(),
                    ..ListCommentsRequest::default()
                },
                |r| {
                    let mut c = discussion.clone();
                    async move { c.list_comments(r).await }
                },
            )
            .await?;
            if existing.comments.is_empty() {
                let commenter = &residents[(IDEAS[i].1 + 1) % residents.len()];
                as_user(
                    &commenter.token,
                    "commenting on a demo idea",
                    PostCommentRequest {
                        input_id: input.id.clone(),
                        body: "Yes please — and benches in the shade too.".to_owned(),
                        request_id: request_id("comment", &input.id),
                        ..PostCommentRequest::default()
                    },
                    |r| {
                        let mut c = discussion.clone();
                        async move { c.post_comment(r).await }
                    },
                )
                .await?;
                seeded.comments += 1;
            }
        }
    }
    progress.step("comments and reactions");

    if let Some(first) = inputs.first()
        && !first.feedback_given
    {
        as_user(
            &manager.token,
            "answering a demo idea",
            PublishFeedbackRequest {
                input_id: first.id.clone(),
                body: [(
                    locale.clone(),
                    "Thank you! The parks department is looking at where trees can grow above the car park's roof."
                        .to_owned(),
                )]
                .into_iter()
                .collect(),
                signed_by: "Public space".to_owned(),
                status: InputStatus::UnderConsideration as i32,
            },
            |r| {
                let mut c = answers.clone();
                async move { c.publish_feedback(r).await }
            },
        )
        .await?;
    }
    progress.step("an official answer");
    progress.finish();

    Ok(summary(&seeded, &args.password))
}

/// A demo account: registered when missing, then signed in.
async fn account(
    api: &mut Api,
    identity: &IdentityClient<Channel>,
    email: &str,
    name: &str,
    locale: &str,
    password: &str,
) -> Result<Person> {
    let registered = identity
        .clone()
        .register(RegisterRequest {
            email: email.to_owned(),
            password: password.to_owned(),
            display_name: name.to_owned(),
            locale: locale.to_owned(),
            ..RegisterRequest::default()
        })
        .await;
    match registered {
        Ok(_) => {}
        Err(status) if status.code() == Code::AlreadyExists => {}
        Err(status) => return Err(Failure::from_status("registering a demo account", &status)),
    }
    let session = identity
        .clone()
        .login(LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        })
        .await
        .doing(&format!(
            "signing in as {email} (made by an earlier demo with another --password?)"
        ))?;
    let user = find_user(api, email).await?;
    Ok(Person {
        email: email.to_owned(),
        user,
        token: session.access_token,
    })
}

/// A call made as one of the demo's people.
async fn as_user<M, R, F, Fut>(token: &str, doing: &str, message: M, send: F) -> Result<R>
where
    F: FnOnce(Request<M>) -> Fut,
    Fut: Future<Output = std::result::Result<Response<R>, Status>>,
{
    send(bearer(message, token)?).await.doing(doing)
}

/// Retries `attempt` while contributions does not know the project yet
/// (NOT_FOUND, or FAILED_PRECONDITION while its phases are on their way),
/// for at most 20 seconds.
async fn until_known<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match attempt().await {
            Err(failure)
                if matches!(failure.kind, Kind::NotFound | Kind::Refused)
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

fn summary(seeded: &Seeded, password: &str) -> Outcome {
    let mut text = String::from("The demo city is ready.\n\n");
    text.push_str(&format!("departments: {}\n", seeded.departments.join(", ")));
    for (email, role) in &seeded.staff {
        text.push_str(&format!("staff:       {email} ({role})\n"));
    }
    text.push_str(&format!("residents:   {}\n", seeded.residents.join(", ")));
    text.push_str(&format!("password of every demo account: {password}\n"));
    for (title, id) in &seeded.projects {
        text.push_str(&format!("project:     {title} ({id})\n"));
    }
    text.push_str(&format!(
        "{} ideas, {} new comments, {} reactions, one official answer\n",
        seeded.inputs, seeded.comments, seeded.reactions
    ));
    for note in &seeded.notes {
        text.push_str(&format!("note: {note}\n"));
    }
    if let Some(id) = &seeded.waiting_proposal {
        text.push_str(&format!(
            "proposal:    Community garden on the old rail yard ({id}), waiting for the core team\n"
        ));
    }
    text.push_str(
        "\nWhat to look at next:\n\
         \x20 inspraak projects list                 the two published projects\n\
         \x20 inspraak projects show <id>            phases, team, timeline\n\
         \x20 inspraak proposals approve <proposal> --reason \"…\"  then: inspraak projects publish <project>\n\
         \x20 inspraak inputs awaiting               ideas waiting for an official answer\n\
         \x20 inspraak report --days 1               what the decision-makers will read\n\
         \x20 inspraak users core-team               the core team and its warnings\n\
         \x20 inspraak dead-letters list             events a service could not handle (none, we hope)\n\
         \x20 inspraak login --email <a demo address> and look around as that person",
    );
    Outcome::text(
        text,
        json!({
            "departments": seeded.departments,
            "staff": seeded.staff.iter().map(|(e, r)| json!({"email": e, "role": r})).collect::<Vec<_>>(),
            "residents": seeded.residents,
            "waiting_proposal": seeded.waiting_proposal,
            "projects": seeded.projects.iter().map(|(t, id)| json!({"title": t, "id": id})).collect::<Vec<_>>(),
            "inputs": seeded.inputs,
            "comments": seeded.comments,
            "reactions": seeded.reactions,
            "notes": seeded.notes,
        }),
    )
}
