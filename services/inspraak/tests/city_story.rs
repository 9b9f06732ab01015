//! The city's story, end to end, on the platform deployed as in production:
//! four `inspraak serve` processes, each with its own PostgreSQL database, on
//! RabbitMQ, sending mail to an SMTP sink this test runs.
//!
//! The first admin sets up the platform; a core team of three is formed and
//! departments are created; a project manager proposes projects and the core
//! team approves them; phases and a public milestone are set; two projects
//! are published and a third is refused by the cap; residents register,
//! confirm, post ideas, comment and react; the manager answers one idea and
//! its author and followers are told in the inbox and by mail; the
//! decision-makers' weekly report arrives with the week's figures; an
//! unanswered idea passes its deadline and escalates to the manager, then to
//! the core team; the phase ends and new input is refused; a communication
//! officer posts an update and the followers are told; a resident deletes
//! their account and their name disappears while their ideas stay,
//! anonymised.
//!
//! Time passes through `CLOCK_OFFSET_FILE`: every process reads the same
//! offset, and a step that needs days to pass moves it, then waits for the
//! effect.

mod support;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use inspraak_kit::testing::smtp::{Mail, SmtpSink};
use inspraak_kit::testing::unique;
use inspraak_proto::bus::v1::ListDeadLettersRequest;
use inspraak_proto::bus::v1::dead_letters_client::DeadLettersClient;
use inspraak_proto::contributions::v1 as contributions;
use inspraak_proto::contributions::v1::answers_client::AnswersClient;
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use inspraak_proto::contributions::v1::discussion_client::DiscussionClient;
use inspraak_proto::identity::v1 as identity;
use inspraak_proto::identity::v1::identity_client::IdentityClient;
use inspraak_proto::notifications::v1 as notifications;
use inspraak_proto::notifications::v1::notifications_client::NotificationsClient;
use inspraak_proto::projects::v1 as projects;
use inspraak_proto::projects::v1::projects_client::ProjectsClient;
use support::{ADMIN, Platform};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

const PASSWORD: &str = "a-long-city-password";
const ZONE: chrono_tz::Tz = chrono_tz::Europe::Brussels;
/// How long any effect of a step may take to show.
const PATIENCE: Duration = Duration::from_secs(30);

#[test]
fn the_citys_story() {
    let started = Instant::now();
    let time = PlatformTime::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // The sink accepts on the runtime's workers while the platform starts.
    let sink = runtime.block_on(SmtpSink::start());
    let port = sink.port.to_string();
    let clock_file = time.file.display().to_string();
    let platform = Platform::start_production(&[
        ("CLOCK_OFFSET_FILE", &clock_file),
        ("NOTIFICATIONS_SMTP_HOST", "127.0.0.1"),
        ("NOTIFICATIONS_SMTP_PORT", &port),
        ("NOTIFICATIONS_SMTP_TLS", "none"),
        // Time-driven work is looked for every second, so moving the clock
        // shows within moments.
        ("NOTIFICATIONS_ESCALATION_SCAN_INTERVAL", "1s"),
        ("NOTIFICATIONS_REPORT_SCAN_INTERVAL", "1s"),
        ("CONTRIBUTIONS_DEADLINE_SCAN_INTERVAL", "1s"),
        ("CONTRIBUTIONS_REACTION_EVENT_WINDOW", "1s"),
        ("PROJECTS_SCHEDULER_INTERVAL", "1s"),
    ]);
    let setup_code = platform.setup_code.clone();
    let urls: HashMap<String, String> = platform.urls.iter().cloned().collect();
    let summary = runtime.block_on(async move {
        let mut city = City::connect(&urls, sink, time).await;
        the_story(&mut city, &setup_code).await
    });
    drop(platform);
    println!(
        "city story: {} steps passed, {} mails received by {} addresses, {} in-app notifications checked, platform time moved {} days, in {:.0?}",
        summary.steps,
        summary.mails,
        summary.addresses,
        summary.notifications,
        summary.days,
        started.elapsed()
    );
}

async fn the_story(city: &mut City, setup_code: &str) -> Summary {
    let mut admin = admin_sets_up_the_platform(city, setup_code).await;
    city.step("the admin set up the platform");
    let core_team = core_team_of_three_is_formed(city, &admin).await;
    city.step("a core team of three was formed");
    let departments = departments_are_created(city, &admin).await;
    city.step("departments were created");
    let mut staff = staff_join(city, &admin, &departments).await;
    city.step("a manager, a communication officer and a decision-maker joined");

    // Omar, the core team's project reviewer.
    let reviewer = &core_team[2];
    let square = manager_proposes_a_project(city, &staff.manager, &departments[0], SQUARE).await;
    proposal_awaits_the_core_team(city, reviewer, &square).await;
    let square = core_team_approves_the_proposal(city, reviewer, &staff.manager, &square).await;
    let school =
        manager_proposes_a_project(city, &staff.manager, &departments[1], SCHOOL_STREETS).await;
    let school = core_team_approves_the_proposal(city, reviewer, &staff.manager, &school).await;
    let garden = manager_proposes_a_project(city, &staff.manager, &departments[0], GARDEN).await;
    let garden = core_team_approves_the_proposal(city, reviewer, &staff.manager, &garden).await;
    city.step("the core team approved the manager's proposals");
    let square = manager_sets_phases_and_a_milestone(city, &admin, &staff, &square).await;
    city.step("phases and a public milestone were set");
    two_projects_are_published_and_a_third_is_refused(city, &admin, &square, &school, &garden)
        .await;
    city.step("two projects were published, the third refused by the cap");

    let mut residents = residents_register_and_confirm(city).await;
    city.step("residents registered and confirmed their addresses");
    let ideas = residents_post_ideas_comment_and_react(city, &residents, &square, &school).await;
    city.step("residents posted ideas, commented and reacted");

    // Two days on (less half an hour, so the answer time is 47.5 hours).
    city.time
        .advance(chrono::Duration::hours(47) + chrono::Duration::minutes(30));
    city.sign_in_again(&mut [
        &mut staff.manager,
        &mut residents.amira,
        &mut residents.bram,
    ])
    .await;
    manager_answers_an_idea(city, &staff.manager, &residents, &ideas).await;
    city.step("the manager answered an idea; its author and follower were told");

    decision_makers_receive_the_weekly_report(city, &mut staff, &square, &school, &ideas).await;
    city.step("the decision-makers' report arrived with the week's figures");

    unanswered_idea_escalates(city, &mut staff, &mut admin, &core_team, &ideas).await;
    city.step("an unanswered idea escalated to the manager, then the core team");
    phase_ends_and_new_input_is_refused(city, &mut residents, &square).await;
    city.step("the phase ended and new input was refused");
    communication_officer_posts_an_update(city, &mut staff, &mut residents, &square).await;
    city.step("the communication officer's update reached the followers");
    resident_deletes_their_account(city, &mut admin, &residents, &ideas, &square).await;
    city.step("a resident deleted their account; their ideas stayed, anonymised");
    no_event_was_dead_lettered(city, &admin).await;
    city.step("no service gave up on an event");

    let mails = city.sink.mails().await;
    let mut addresses: Vec<&String> = mails.iter().flat_map(|m| &m.to).collect();
    addresses.sort();
    addresses.dedup();
    Summary {
        steps: city.steps,
        mails: mails.len(),
        addresses: addresses.len(),
        notifications: city.notifications_checked.load(Ordering::Relaxed),
        days: city.time.offset.num_days(),
    }
}

// --- the story's steps ---------------------------------------------------------

/// The first admin sets a password with the setup code identity printed,
/// then sets up the platform: its name and branding in three languages, the
/// cap of two active projects, the charter (answers within 14 days, a weekly
/// report) and a registration policy that asks for the district.
async fn admin_sets_up_the_platform(city: &mut City, setup_code: &str) -> Person {
    city.identity()
        .reset_password(timed(identity::ResetPasswordRequest {
            email: ADMIN.to_owned(),
            code: setup_code.to_owned(),
            new_password: PASSWORD.to_owned(),
        }))
        .await
        .expect("the setup code sets the first admin's password");
    let admin = city.sign_in("Admin", ADMIN).await;

    let current = city
        .projects()
        .get_platform_settings(admin.call(projects::GetPlatformSettingsRequest {}))
        .await
        .expect("the settings")
        .into_inner();
    // The weekly report goes out at this moment of the week in the city's
    // zone: three days from now, on the hour, so the first week holds the
    // ideas and their first answer.
    let report_at = (city.time.now() + chrono::Duration::days(3)).with_timezone(&ZONE);
    city.report_at = ZONE
        .with_ymd_and_hms(
            report_at.year(),
            report_at.month(),
            report_at.day(),
            report_at.hour(),
            0,
            0,
        )
        .earliest()
        .expect("an hour that exists in Brussels")
        .with_timezone(&Utc);
    let charter = projects::GovernanceCharter {
        selection: Some(texts(
            "Het kernteam kiest projecten met de diensten.",
            "L'équipe centrale choisit les projets avec les services.",
            "The core team selects projects with the departments.",
        )),
        autonomy: Some(texts(
            "Het kernteam beslist over de planning.",
            "L'équipe centrale décide du calendrier.",
            "The core team decides on the schedule.",
        )),
        report_cadence: projects::ReportCadence::Weekly as i32,
        report_day: report_at.weekday().number_from_monday(),
        report_hour: report_at.hour(),
        answer_target_days: 14,
        moderation_threshold: 3,
    };
    let settings = projects::PlatformSettings {
        name: Some(texts("Inspraak Stad", "Participation Ville", "City Voice")),
        branding: Some(projects::Branding {
            primary_color: "#0b5394".to_owned(),
            secondary_color: "#f1c232".to_owned(),
            logo_url: "https://www.city.example/logo.svg".to_owned(),
            texts: HashMap::from([(
                "welcome".to_owned(),
                texts(
                    "Welkom! Denk mee over uw stad.",
                    "Bienvenue ! Participez à votre ville.",
                    "Welcome! Help shape your city.",
                ),
            )]),
        }),
        locales: vec!["nl".to_owned(), "fr".to_owned(), "en".to_owned()],
        time_zone: ZONE.name().to_owned(),
        max_active_projects: 2,
        charter: Some(charter.clone()),
        ..current.clone()
    };
    let updated = city
        .projects()
        .update_platform_settings(admin.call(projects::UpdatePlatformSettingsRequest {
            settings: Some(settings),
            etag: current.etag,
        }))
        .await
        .expect("the platform's settings")
        .into_inner();
    assert_eq!(updated.max_active_projects, 2);
    assert_eq!(updated.charter.as_ref(), Some(&charter));
    let public = city
        .projects()
        .get_public_settings(timed(projects::GetPublicSettingsRequest {}))
        .await
        .expect("what residents see")
        .into_inner();
    assert_eq!(public.locales, ["nl", "fr", "en"]);
    assert_eq!(public.time_zone, "Europe/Brussels");
    assert_eq!(
        public
            .name
            .expect("a name")
            .text
            .get("fr")
            .map(String::as_str),
        Some("Participation Ville")
    );
    assert_eq!(public.branding.expect("branding").primary_color, "#0b5394");

    let policy = city
        .identity()
        .get_registration_policy(timed(identity::GetRegistrationPolicyRequest {}))
        .await
        .expect("the registration policy")
        .into_inner();
    let district = identity::RegistrationField {
        key: "district".to_owned(),
        label: HashMap::from([
            ("nl".to_owned(), "Wijk".to_owned()),
            ("fr".to_owned(), "Quartier".to_owned()),
            ("en".to_owned(), "District".to_owned()),
        ]),
        r#type: identity::FieldType::SingleChoice as i32,
        required: true,
        options: DISTRICTS.iter().map(|d| (*d).to_owned()).collect(),
        min: 0.0,
        max: 0.0,
    };
    let updated = city
        .identity()
        .update_registration_policy(admin.call(identity::UpdateRegistrationPolicyRequest {
            policy: Some(identity::RegistrationPolicy {
                fields: vec![district.clone()],
                confirmation_required: true,
                unconfirmed_access: identity::UnconfirmedAccess::ReadOnly as i32,
                staff_email_domains: vec!["city.example".to_owned()],
                ..policy.clone()
            }),
            etag: policy.etag,
        }))
        .await
        .expect("the registration policy")
        .into_inner();
    assert_eq!(updated.fields, vec![district]);
    assert!(updated.confirmation_required);
    admin
}

/// Two colleagues register, and the admin makes them platform admins, one
/// of them a project reviewer: a core team of three.
async fn core_team_of_three_is_formed(city: &City, admin: &Person) -> Vec<Person> {
    let mut team = vec![admin.clone()];
    for (name, email, reviewer) in [
        ("Lena Peeters", "lena.peeters@city.example", false),
        ("Omar Haddad", "omar.haddad@city.example", true),
    ] {
        let member = city
            .registers_and_confirms(name, email, "nl", "Centrum")
            .await;
        grant(
            city,
            admin,
            &member,
            identity::PlatformRole::PlatformAdmin,
            reviewer,
        )
        .await;
        city.wait_for_notification(&member, "rights_received", None)
            .await;
        // Signed in again, the token carries the role.
        team.push(city.sign_in(name, email).await);
    }
    let overview = city
        .identity()
        .get_governance_overview(admin.call(identity::GetGovernanceOverviewRequest {}))
        .await
        .expect("the governance overview")
        .into_inner();
    let mut members: Vec<&str> = overview
        .core_team
        .iter()
        .map(|u| u.email.as_str())
        .collect();
    members.sort_unstable();
    assert_eq!(
        members,
        [
            "it-team@city.example",
            "lena.peeters@city.example",
            "omar.haddad@city.example"
        ]
    );
    // The first admin reviews proposals from the start; Omar too.
    assert_eq!(overview.project_reviewers, 2);
    team
}

async fn departments_are_created(city: &City, admin: &Person) -> Vec<String> {
    let mut ids = Vec::new();
    for name in ["Public space", "Mobility", "Social affairs"] {
        let department = city
            .identity()
            .create_department(admin.call(identity::CreateDepartmentRequest {
                name: name.to_owned(),
                request_id: format!("department {name}"),
            }))
            .await
            .expect("a department")
            .into_inner();
        ids.push(department.id);
    }
    let listed = city
        .identity()
        .list_departments(timed(identity::ListDepartmentsRequest::default()))
        .await
        .expect("the departments")
        .into_inner()
        .departments;
    assert_eq!(listed.len(), 3);
    ids
}

struct Staff {
    manager: Person,
    officer: Person,
    maker: Person,
}

/// A project manager from Public space and Mobility, a communication
/// officer and an alderman as decision-maker.
async fn staff_join(city: &City, admin: &Person, departments: &[String]) -> Staff {
    let manager = city
        .registers_and_confirms("Jan Claes", "jan.claes@city.example", "nl", "Noord")
        .await;
    for department in &departments[..2] {
        city.identity()
            .add_department_member(admin.call(identity::AddDepartmentMemberRequest {
                department_id: department.clone(),
                user_id: manager.id.clone(),
            }))
            .await
            .expect("the manager joins a department");
    }
    let officer = city
        .registers_and_confirms("Sofie Maes", "sofie.maes@city.example", "en", "Zuid")
        .await;
    grant(
        city,
        admin,
        &officer,
        identity::PlatformRole::CommunicationOfficer,
        false,
    )
    .await;
    let maker = city
        .registers_and_confirms("Els Wouters", "els.wouters@city.example", "en", "Centrum")
        .await;
    grant(
        city,
        admin,
        &maker,
        identity::PlatformRole::DecisionMaker,
        false,
    )
    .await;
    // Signed in again, their tokens name their departments and roles.
    Staff {
        manager: city.sign_in("Jan Claes", "jan.claes@city.example").await,
        officer: city.sign_in("Sofie Maes", "sofie.maes@city.example").await,
        maker: city
            .sign_in("Els Wouters", "els.wouters@city.example")
            .await,
    }
}

struct Plan {
    title: [&'static str; 3],
    goal: &'static str,
    /// Days from now the ideas phase ends.
    ideas_for_days: i64,
}

const SQUARE: Plan = Plan {
    title: [
        "Groener Marktplein",
        "Place du Marché plus verte",
        "Greener Market Square",
    ],
    goal: "Make the market square a greener, cooler place to meet.",
    ideas_for_days: 20,
};
const SCHOOL_STREETS: Plan = Plan {
    title: [
        "Veilige schoolstraten",
        "Rues scolaires sûres",
        "Safer school streets",
    ],
    goal: "Ask parents and children what would make their way to school safer.",
    ideas_for_days: 30,
};
const GARDEN: Plan = Plan {
    title: [
        "Buurttuin op de oude spoorweg",
        "Jardin partagé sur l'ancienne voie ferrée",
        "Community garden on the old rail yard",
    ],
    goal: "Turn the fenced-off rail yard into plots the neighbourhood runs.",
    ideas_for_days: 30,
};

async fn manager_proposes_a_project(
    city: &City,
    manager: &Person,
    department: &str,
    plan: Plan,
) -> projects::Proposal {
    let now = city.time.now();
    let [nl, fr, en] = plan.title;
    let proposal = city
        .projects()
        .submit_proposal(manager.call(projects::SubmitProposalRequest {
            title: Some(texts(nl, fr, en)),
            goal: Some(texts(plan.goal, plan.goal, plan.goal)),
            department_id: department.to_owned(),
            intended_phases: vec![projects::IntendedPhase {
                title: Some(texts("Ideeën", "Idées", "Ideas")),
                method: Some(ideation()),
                starts_at: Some(ts(now - chrono::Duration::hours(1))),
                ends_at: Some(ts(now + chrono::Duration::days(plan.ideas_for_days))),
            }],
            communication_plan: Some(texts(
                "Affiches op het plein en de nieuwsbrief.",
                "Des affiches sur la place et la lettre d'information.",
                "Posters on the square and the newsletter.",
            )),
            request_id: format!("proposal {en}"),
        }))
        .await
        .expect("the manager's proposal")
        .into_inner();
    assert_eq!(proposal.state, projects::ProposalState::Submitted as i32);
    assert_eq!(proposal.proposer_id, manager.id);
    proposal
}

/// The reviewer on the core team is told there is a proposal to review.
async fn proposal_awaits_the_core_team(
    city: &City,
    reviewer: &Person,
    proposal: &projects::Proposal,
) {
    let waiting = city
        .projects()
        .list_proposals(reviewer.call(projects::ListProposalsRequest {
            state: projects::ProposalState::Submitted as i32,
            ..Default::default()
        }))
        .await
        .expect("the proposals to review")
        .into_inner()
        .proposals;
    assert!(waiting.iter().any(|p| p.id == proposal.id));
    city.wait_for_notification(reviewer, "proposal_to_review", None)
        .await;
}

async fn core_team_approves_the_proposal(
    city: &City,
    reviewer: &Person,
    manager: &Person,
    proposal: &projects::Proposal,
) -> projects::Project {
    let decided = city
        .projects()
        .review_proposal(reviewer.call(projects::ReviewProposalRequest {
            id: proposal.id.clone(),
            decision: projects::ReviewDecision::Approve as i32,
            reason: "Fits the charter; the core team selects it.".to_owned(),
            etag: proposal.etag.clone(),
        }))
        .await
        .expect("the approval")
        .into_inner();
    let approved = decided.proposal.expect("the proposal");
    assert_eq!(approved.state, projects::ProposalState::Approved as i32);
    let project = decided.project.expect("a draft project");
    assert_eq!(approved.project_id, project.id);
    assert_eq!(project.state, projects::ProjectState::Draft as i32);
    assert_eq!(project.proposal_id, proposal.id);
    assert_eq!(
        project.team.as_ref().map(|t| t.manager_ids.clone()),
        Some(vec![manager.id.clone()]),
        "the proposer manages the project"
    );
    assert_eq!(project.phases.len(), 1, "the intended phase");
    project
}

/// The manager opens the ideas phase to confirmed residents, adds an
/// information phase after it and a public milestone; the admin names the
/// communication officer as the project's contact.
async fn manager_sets_phases_and_a_milestone(
    city: &City,
    admin: &Person,
    staff: &Staff,
    project: &projects::Project,
) -> projects::Project {
    let ideas = projects::Phase {
        permissions: Some(confirmed_residents()),
        ..project.phases[0].clone()
    };
    let ideas_end = from_ts(ideas.ends_at.as_ref());
    let project = city
        .projects()
        .update_phase(staff.manager.call(projects::UpdatePhaseRequest {
            project_id: project.id.clone(),
            phase: Some(ideas),
            etag: project.etag.clone(),
        }))
        .await
        .expect("the ideas phase")
        .into_inner();
    let project = city
        .projects()
        .create_phase(staff.manager.call(projects::CreatePhaseRequest {
            project_id: project.id.clone(),
            phase: Some(projects::Phase {
                title: Some(texts(
                    "Wat we met uw ideeën doen",
                    "Ce que nous faisons de vos idées",
                    "What we do with your ideas",
                )),
                starts_at: Some(ts(ideas_end)),
                ends_at: Some(ts(ideas_end + chrono::Duration::days(20))),
                method: Some(projects::ParticipationMethod {
                    method: Some(projects::participation_method::Method::Information(
                        projects::Information {},
                    )),
                }),
                permissions: Some(confirmed_residents()),
                ..Default::default()
            }),
        }))
        .await
        .expect("an information phase")
        .into_inner();
    let council = ideas_end + chrono::Duration::days(25);
    city.projects()
        .set_milestone(staff.manager.call(projects::SetMilestoneRequest {
            project_id: project.id.clone(),
            milestone: Some(projects::Milestone {
                id: String::new(),
                title: Some(texts(
                    "Beslissing van de gemeenteraad",
                    "Décision du conseil communal",
                    "Council decision",
                )),
                at: Some(ts(council)),
            }),
        }))
        .await
        .expect("a public milestone");
    let project = city
        .projects()
        .set_project_team(admin.call(projects::SetProjectTeamRequest {
            project_id: project.id.clone(),
            team: Some(projects::Team {
                manager_ids: vec![staff.manager.id.clone()],
                communication_contact_id: staff.officer.id.clone(),
            }),
        }))
        .await
        .expect("the project's team")
        .into_inner();
    // The timeline: two phases and the milestone, in time order.
    let timeline = city
        .projects()
        .get_timeline(staff.manager.call(projects::GetTimelineRequest {
            project_id: project.id.clone(),
        }))
        .await
        .expect("the timeline")
        .into_inner();
    let kinds: Vec<&str> = timeline
        .entries
        .iter()
        .map(|e| match e.entry {
            Some(projects::timeline_entry::Entry::Phase(_)) => "phase",
            Some(projects::timeline_entry::Entry::Milestone(_)) => "milestone",
            None => "nothing",
        })
        .collect();
    assert_eq!(kinds, ["phase", "phase", "milestone"]);
    assert_eq!(
        from_ts(timeline.entries[2].at.as_ref()),
        council,
        "the council's decision is on the timeline"
    );
    project
}

async fn two_projects_are_published_and_a_third_is_refused(
    city: &City,
    admin: &Person,
    square: &projects::Project,
    school: &projects::Project,
    garden: &projects::Project,
) {
    for project in [square, school] {
        let published = city
            .projects()
            .publish_project(admin.call(projects::PublishProjectRequest {
                id: project.id.clone(),
            }))
            .await
            .expect("a project published")
            .into_inner();
        assert_eq!(published.state, projects::ProjectState::Published as i32);
        assert!(published.active);
    }
    let refused = city
        .projects()
        .publish_project(admin.call(projects::PublishProjectRequest {
            id: garden.id.clone(),
        }))
        .await
        .expect_err("the cap holds");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let message = refused.message();
    assert!(message.contains("allows 2 active projects"), "{message}");
    assert!(
        message.contains(&square.id) && message.contains(&school.id),
        "the active projects are named: {message}"
    );
    let active = city
        .projects()
        .list_projects(timed(projects::ListProjectsRequest {
            active_only: true,
            ..Default::default()
        }))
        .await
        .expect("the active projects")
        .into_inner()
        .projects;
    let mut ids: Vec<&str> = active.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = [square.id.as_str(), school.id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
}

const DISTRICTS: [&str; 3] = ["Centrum", "Noord", "Zuid"];

struct Residents {
    amira: Person,
    bram: Person,
    chloe: Person,
    dries: Person,
}

/// Four residents register with their district, read their confirmation
/// code in the mail and confirm; until then they may only read.
async fn residents_register_and_confirm(city: &City) -> Residents {
    // The district is required.
    let refused = city
        .identity()
        .register(timed(identity::RegisterRequest {
            email: "no.district@mail.example".to_owned(),
            password: PASSWORD.to_owned(),
            display_name: "Nobody".to_owned(),
            locale: "en".to_owned(),
            fields: HashMap::new(),
        }))
        .await
        .expect_err("registration without a district");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    Residents {
        amira: city
            .registers_and_confirms("Amira", "amira@mail.example", "nl", "Centrum")
            .await,
        bram: city
            .registers_and_confirms("Bram", "bram@mail.example", "fr", "Noord")
            .await,
        chloe: city
            .registers_and_confirms("Chloé Dubois", "chloe@mail.example", "en", "Zuid")
            .await,
        dries: city
            .registers_and_confirms("Dries", "dries@mail.example", "en", "Noord")
            .await,
    }
}

struct Ideas {
    trees: contributions::Input,
    fountain: contributions::Input,
    car_free: contributions::Input,
    school_street: contributions::Input,
    chloes_comment: contributions::Comment,
}

async fn residents_post_ideas_comment_and_react(
    city: &City,
    residents: &Residents,
    square: &projects::Project,
    school: &projects::Project,
) -> Ideas {
    let trees = post_idea(
        city,
        &residents.amira,
        square,
        "More trees on the square",
        "Shade in summer: plant a row of lime trees along the market side.",
    )
    .await;
    let fountain = post_idea(
        city,
        &residents.bram,
        square,
        "A drinking-water fountain",
        "Market visitors and children would use a fountain near the playground.",
    )
    .await;
    let car_free = post_idea(
        city,
        &residents.chloe,
        square,
        "Car-free on Sundays",
        "Close the square to cars on Sunday mornings so the market can spread out.",
    )
    .await;
    let school_street = post_idea(
        city,
        &residents.dries,
        school,
        "School street at 8:15 and 15:30",
        "Close the street in front of the school when children arrive and leave.",
    )
    .await;
    for idea in [&trees, &fountain, &car_free, &school_street] {
        assert_eq!(idea.status, contributions::InputStatus::Proposed as i32);
        assert_eq!(
            from_ts(idea.answer_deadline.as_ref()) - from_ts(idea.created_at.as_ref()),
            chrono::Duration::days(14),
            "the charter's answer target"
        );
    }

    let chloes_comment = city
        .discussion()
        .post_comment(residents.chloe.call(contributions::PostCommentRequest {
            input_id: trees.id.clone(),
            body: "Yes please, and benches in the shade too.".to_owned(),
            request_id: "chloe on trees".to_owned(),
            ..Default::default()
        }))
        .await
        .expect("a comment")
        .into_inner();
    for (who, idea) in [
        (&residents.bram, &trees),
        (&residents.chloe, &trees),
        (&residents.dries, &trees),
        (&residents.amira, &fountain),
    ] {
        city.discussion()
            .react(who.call(contributions::ReactRequest {
                input_id: idea.id.clone(),
                direction: contributions::ReactionDirection::Up as i32,
            }))
            .await
            .expect("a reaction");
    }
    for (who, target) in [
        (
            &residents.bram,
            contributions::follow_request::Target::InputId(trees.id.clone()),
        ),
        (
            &residents.amira,
            contributions::follow_request::Target::ProjectId(square.id.clone()),
        ),
        (
            &residents.bram,
            contributions::follow_request::Target::ProjectId(square.id.clone()),
        ),
    ] {
        let followed = city
            .discussion()
            .follow(who.call(contributions::FollowRequest {
                target: Some(target),
            }))
            .await
            .expect("a follow")
            .into_inner();
        assert!(followed.following);
    }
    let read = city
        .contributions()
        .get_input(timed(contributions::GetInputRequest {
            id: trees.id.clone(),
        }))
        .await
        .expect("the idea, as anyone reads it")
        .into_inner();
    assert_eq!((read.reactions_up, read.comment_count), (3, 1));
    // Amira is told of Chloé's comment on her idea.
    city.wait_for_notification(&residents.amira, "comment_on_your_input", Some(&trees.id))
        .await;
    Ideas {
        trees,
        fountain,
        car_free,
        school_street,
        chloes_comment,
    }
}

/// The manager answers Amira's idea with official feedback in the three
/// languages and accepts it: Amira (its author) and Bram (who follows it)
/// each find it in their inbox and in their mail, in their own language.
async fn manager_answers_an_idea(
    city: &City,
    manager: &Person,
    residents: &Residents,
    ideas: &Ideas,
) {
    let answered = city
        .answers()
        .publish_feedback(manager.call(contributions::PublishFeedbackRequest {
            input_id: ideas.trees.id.clone(),
            body: HashMap::from([
                (
                    "nl".to_owned(),
                    "We planten in maart tien linden.".to_owned(),
                ),
                (
                    "fr".to_owned(),
                    "Nous plantons dix tilleuls en mars.".to_owned(),
                ),
                (
                    "en".to_owned(),
                    "We plant ten lime trees in March.".to_owned(),
                ),
            ]),
            signed_by: "Public space".to_owned(),
            status: contributions::InputStatus::Accepted as i32,
        }))
        .await
        .expect("official feedback")
        .into_inner();
    let input = answered.input.expect("the input");
    assert_eq!(input.status, contributions::InputStatus::Accepted as i32);
    assert!(input.feedback_given);

    city.wait_for_notification(
        &residents.amira,
        "feedback_on_your_input",
        Some(&ideas.trees.id),
    )
    .await;
    city.wait_for_notification(
        &residents.bram,
        "feedback_on_followed_input",
        Some(&ideas.trees.id),
    )
    .await;
    let to_amira = city
        .mail_to(&residents.amira, |m| {
            m.subject() == "Antwoord op uw bijdrage \"More trees on the square\""
        })
        .await;
    assert!(
        to_amira.text().contains("We planten in maart tien linden."),
        "{}",
        to_amira.text()
    );
    assert!(to_amira.text().contains("Groener Marktplein"));
    let to_bram = city
        .mail_to(&residents.bram, |m| {
            m.subject() == "Réponse à « More trees on the square »"
        })
        .await;
    assert!(
        to_bram
            .text()
            .contains("Nous plantons dix tilleuls en mars."),
        "{}",
        to_bram.text()
    );
}

/// A week after the report's last moment, the decision-maker receives the
/// week's figures: three ideas on the square from three people, one of
/// them answered after 47.5 hours (48 rounded up), the trees most
/// supported; one idea on the school streets.
async fn decision_makers_receive_the_weekly_report(
    city: &mut City,
    staff: &mut Staff,
    square: &projects::Project,
    school: &projects::Project,
    ideas: &Ideas,
) {
    let charter_moment = city.report_at;
    city.time
        .advance(charter_moment - city.time.now() + chrono::Duration::minutes(1));
    city.sign_in_again(&mut [&mut staff.maker]).await;
    let mail = city
        .mail_to(&staff.maker, |m| {
            m.subject().starts_with("Participation report")
        })
        .await;
    let text = mail.text();
    for line in [
        "Greener Market Square",
        "Safer school streets",
        "New inputs: 3",
        "New inputs: 1",
        "Participants: 3",
        "Answered: 33%",
        "Median answer time (hours): 48",
        "Most supported: More trees on the square (3)",
    ] {
        assert!(text.contains(line), "{line:?} in the report:\n{text}");
    }
    city.wait_for_notification(&staff.maker, "report", None)
        .await;

    let report = city
        .notifications()
        .get_report(staff.maker.call(notifications::GetReportRequest {
            from: Some(ts(charter_moment - chrono::Duration::days(7))),
            to: Some(ts(charter_moment)),
        }))
        .await
        .expect("the week's report")
        .into_inner();
    let figures = |project: &projects::Project| {
        report
            .projects
            .iter()
            .find(|p| p.project_id == project.id)
            .unwrap_or_else(|| panic!("{} in {report:?}", project.id))
            .clone()
    };
    let on_square = figures(square);
    assert_eq!(on_square.title, "Greener Market Square");
    assert_eq!((on_square.new_inputs, on_square.participants), (3, 3));
    assert!((on_square.share_answered - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(on_square.median_answer_hours, 48);
    assert_eq!(on_square.overdue_inputs, 0);
    let top: Vec<(&str, i64)> = on_square
        .top_inputs
        .iter()
        .map(|t| (t.input_id.as_str(), t.reactions_up))
        .collect();
    assert_eq!(
        top,
        [
            (ideas.trees.id.as_str(), 3),
            (ideas.fountain.id.as_str(), 1),
            (ideas.car_free.id.as_str(), 0)
        ]
    );
    let on_school = figures(school);
    assert_eq!((on_school.new_inputs, on_school.participants), (1, 1));
    assert!(on_school.share_answered.abs() < 1e-9);
    assert_eq!(report.projects.len(), 2);
}

/// Bram's fountain gets no answer. Past its 14 days the manager is told;
/// still unanswered a week later (`ESCALATION_DELAY`), the core team. The
/// answered idea never escalates.
async fn unanswered_idea_escalates(
    city: &mut City,
    staff: &mut Staff,
    admin: &mut Person,
    core_team: &[Person],
    ideas: &Ideas,
) {
    let deadline = from_ts(ideas.fountain.answer_deadline.as_ref());
    city.time
        .advance(deadline - city.time.now() + chrono::Duration::hours(1));
    city.sign_in_again(&mut [&mut staff.manager, admin]).await;
    city.wait_for_notification(&staff.manager, "input_overdue", Some(&ideas.fountain.id))
        .await;
    // Jan reads Dutch.
    city.mail_to(&staff.manager, |m| {
        m.subject() == "Onbeantwoord na de termijn: \"A drinking-water fountain\""
    })
    .await;
    let overdue = city
        .answers()
        .list_overdue(staff.manager.call(contributions::ListOverdueRequest {
            project_id: ideas.fountain.project_id.clone(),
            ..Default::default()
        }))
        .await
        .expect("the overdue ideas")
        .into_inner();
    let mut late: Vec<&str> = overdue.inputs.iter().map(|i| i.id.as_str()).collect();
    late.sort_unstable();
    let mut expected = [ideas.fountain.id.as_str(), ideas.car_free.id.as_str()];
    expected.sort_unstable();
    assert_eq!(late, expected, "the answered trees are not overdue");
    assert_eq!(overdue.total, 2);
    // Not yet for the core team.
    assert!(
        city.inbox(admin)
            .await
            .iter()
            .all(|n| n.kind != "input_overdue_escalated"),
        "the core team waits for the further period"
    );

    city.time.advance(chrono::Duration::days(7));
    let mut team = Vec::new();
    for member in core_team {
        team.push(city.sign_in(&member.name, &member.email).await);
    }
    for member in &team {
        city.wait_for_notification(member, "input_overdue_escalated", Some(&ideas.fountain.id))
            .await;
        // The first admin reads English, Lena and Omar Dutch.
        city.mail_to(member, |m| {
            [
                "Still unanswered: \"A drinking-water fountain\"",
                "Nog steeds onbeantwoord: \"A drinking-water fountain\"",
            ]
            .contains(&m.subject().as_str())
        })
        .await;
        assert!(
            city.inbox(member)
                .await
                .iter()
                .all(|n| n.input_id != ideas.trees.id),
            "the answered idea never escalates"
        );
    }
    *admin = team.swap_remove(0);
}

/// Twenty days on, the ideas phase has ended: a new idea is refused, while
/// the square stays active in its information phase.
async fn phase_ends_and_new_input_is_refused(
    city: &mut City,
    residents: &mut Residents,
    square: &projects::Project,
) {
    let ideas_phase = &square.phases[0];
    assert!(
        city.time.now() > from_ts(ideas_phase.ends_at.as_ref()),
        "the story is past the ideas phase"
    );
    city.sign_in_again(&mut [&mut residents.dries]).await;
    let refused = city
        .contributions()
        .create_input(residents.dries.call(contributions::CreateInputRequest {
            project_id: square.id.clone(),
            phase_id: ideas_phase.id.clone(),
            title: "Too late: a bandstand".to_owned(),
            body: "Music on the square on summer evenings.".to_owned(),
            request_id: "dries late idea".to_owned(),
            ..Default::default()
        }))
        .await
        .expect_err("the phase has ended");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let mine = city
        .contributions()
        .list_my_inputs(
            residents
                .dries
                .call(contributions::ListMyInputsRequest::default()),
        )
        .await
        .expect("Dries's ideas")
        .into_inner()
        .inputs;
    assert_eq!(mine.len(), 1, "nothing was stored");
    let now = city
        .projects()
        .get_project(timed(projects::GetProjectRequest {
            id: square.id.clone(),
        }))
        .await
        .expect("the square, as anyone sees it")
        .into_inner();
    assert!(now.active, "the information phase runs on");
}

/// The communication officer posts news on the square; the residents who
/// follow the project find it in their inbox.
async fn communication_officer_posts_an_update(
    city: &mut City,
    staff: &mut Staff,
    residents: &mut Residents,
    square: &projects::Project,
) {
    city.sign_in_again(&mut [
        &mut staff.officer,
        &mut residents.amira,
        &mut residents.bram,
    ])
    .await;
    let update = city
        .projects()
        .post_update(staff.officer.call(projects::PostUpdateRequest {
            project_id: square.id.clone(),
            title: Some(texts(
                "Tien linden in maart",
                "Dix tilleuls en mars",
                "Ten lime trees in March",
            )),
            body: Some(texts(
                "De werken starten op 2 maart.",
                "Les travaux commencent le 2 mars.",
                "Works start on 2 March.",
            )),
            request_id: "square update 1".to_owned(),
        }))
        .await
        .expect("the officer's update")
        .into_inner();
    assert_eq!(update.author_id, staff.officer.id);
    for follower in [&residents.amira, &residents.bram] {
        let told = city
            .wait_for_notification(follower, "update_posted", None)
            .await;
        assert_eq!(told.project_id, square.id);
    }
}

/// Chloé deletes her account: her name is gone from every listing, she can
/// no longer sign in, and her idea and comment stay, with no trace of her.
async fn resident_deletes_their_account(
    city: &mut City,
    admin: &mut Person,
    residents: &Residents,
    ideas: &Ideas,
    square: &projects::Project,
) {
    city.sign_in_again(&mut [admin]).await;
    let chloe = city
        .sign_in(&residents.chloe.name, &residents.chloe.email)
        .await;
    let before = statistics(city, square).await;
    city.identity()
        .delete_me(chloe.call(identity::DeleteMeRequest {
            password: PASSWORD.to_owned(),
        }))
        .await
        .expect("her account deleted");

    let gone = city
        .identity()
        .get_user(admin.call(identity::GetUserRequest {
            id: chloe.id.clone(),
        }))
        .await
        .map(|_| ())
        .map_err(|s| s.code());
    assert_eq!(gone, Err(Code::NotFound), "not even admins find her");
    // What identity keeps of deleted accounts carries no name or address.
    let deleted = city
        .identity()
        .list_users(admin.call(identity::ListUsersRequest {
            status: identity::UserStatus::Deleted as i32,
            ..Default::default()
        }))
        .await
        .expect("the deleted accounts")
        .into_inner()
        .users;
    for user in &deleted {
        assert!(
            !user.display_name.contains("Chlo") && !user.email.contains("chloe"),
            "{user:?}"
        );
    }
    for query in ["Chlo", "chloe@"] {
        let found = city
            .identity()
            .list_users(admin.call(identity::ListUsersRequest {
                query: query.to_owned(),
                ..Default::default()
            }))
            .await
            .expect("a search")
            .into_inner()
            .users;
        assert!(found.is_empty(), "{query:?} finds {found:?}");
    }
    let login = city
        .identity()
        .login(timed(identity::LoginRequest {
            email: chloe.email.clone(),
            password: PASSWORD.to_owned(),
        }))
        .await;
    assert_eq!(
        login.map(|_| ()).map_err(|s| s.code()),
        Err(Code::Unauthenticated)
    );

    // Contributions hears of it over the bus: her idea and her comment
    // stay, anonymised, for the admin as for anyone.
    let car_free = city
        .eventually("her idea anonymised", || async {
            let input = city
                .contributions()
                .get_input(admin.call(contributions::GetInputRequest {
                    id: ideas.car_free.id.clone(),
                }))
                .await
                .ok()?
                .into_inner();
            input.anonymous.then_some(input)
        })
        .await;
    assert_ne!(car_free.author_id, chloe.id);
    assert_eq!(car_free.title, "Car-free on Sundays");
    let comments = city
        .discussion()
        .list_comments(admin.call(contributions::ListCommentsRequest {
            input_id: ideas.trees.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("the comments")
        .into_inner()
        .comments;
    let comment = comments
        .iter()
        .find(|c| c.id == ideas.chloes_comment.id)
        .expect("her comment stays");
    assert_eq!(comment.body, "Yes please, and benches in the shade too.");
    assert_ne!(comment.author_id, chloe.id);
    let hers = city
        .contributions()
        .list_inputs(admin.call(contributions::ListInputsRequest {
            project_id: square.id.clone(),
            author_id: chloe.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("a listing by author")
        .into_inner()
        .inputs;
    assert!(hers.is_empty(), "nothing is linked to her any more");
    let after = statistics(city, square).await;
    assert_eq!(
        (
            after.inputs,
            after.comments,
            after.reactions,
            after.participants
        ),
        (
            before.inputs,
            before.comments,
            before.reactions,
            before.participants
        ),
        "the figures do not change"
    );
    // Nobody else's idea changed hands.
    let school = city
        .contributions()
        .get_input(admin.call(contributions::GetInputRequest {
            id: ideas.school_street.id.clone(),
        }))
        .await
        .expect("Dries's idea")
        .into_inner();
    assert_eq!(school.author_id, residents.dries.id);
}

/// Every event of the story was handled: no service gave up on one.
async fn no_event_was_dead_lettered(city: &City, admin: &Person) {
    for channel in [&city.projects, &city.contributions, &city.notifications] {
        let letters = DeadLettersClient::new(channel.clone())
            .list_dead_letters(admin.call(ListDeadLettersRequest { page_size: 10 }))
            .await
            .expect("the dead letters")
            .into_inner();
        assert_eq!(letters.total, 0, "{:?}", letters.dead_letters);
    }
}

// --- what the steps stand on ---------------------------------------------------

struct Summary {
    steps: usize,
    mails: usize,
    addresses: usize,
    notifications: usize,
    days: i64,
}

#[derive(Clone)]
struct Person {
    name: String,
    email: String,
    id: String,
    token: String,
}

impl Person {
    /// A request made by this person, with a deadline.
    fn call<T>(&self, message: T) -> Request<T> {
        let mut request = timed(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.token)
                .parse()
                .expect("a header value"),
        );
        request
    }
}

fn timed<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(Duration::from_secs(10));
    request
}

/// The platform's time: the offset every process reads from one file.
struct PlatformTime {
    file: PathBuf,
    offset: chrono::Duration,
}

impl PlatformTime {
    fn new() -> Self {
        let file = std::env::temp_dir().join(unique("inspraak-clock-"));
        std::fs::write(&file, "0").expect("the clock's offset file");
        Self {
            file,
            offset: chrono::Duration::zero(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    /// Moves every process's clock forward; they see it within 100 ms.
    fn advance(&mut self, by: chrono::Duration) {
        self.offset += by;
        // Written beside and renamed, so no process reads half a number.
        let next = self.file.with_extension("next");
        std::fs::write(&next, self.offset.num_seconds().to_string()).expect("the new offset");
        std::fs::rename(&next, &self.file).expect("the offset moved in place");
    }
}

impl Drop for PlatformTime {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

struct City {
    identity: Channel,
    projects: Channel,
    contributions: Channel,
    notifications: Channel,
    sink: SmtpSink,
    time: PlatformTime,
    steps: usize,
    /// Every notification a step waited for.
    notifications_checked: AtomicUsize,
    /// When the first weekly report is due: the charter's weekday and hour
    /// in the city's zone, three days into the story.
    report_at: DateTime<Utc>,
}

impl City {
    async fn connect(urls: &HashMap<String, String>, sink: SmtpSink, time: PlatformTime) -> Self {
        let channel = |service: &str| {
            let url = urls
                .get(service)
                .unwrap_or_else(|| panic!("{service}'s address"));
            Channel::from_shared(url.clone())
                .expect("a URL")
                .connect_lazy()
        };
        Self {
            identity: channel("identity"),
            projects: channel("projects"),
            contributions: channel("contributions"),
            notifications: channel("notifications"),
            sink,
            time,
            steps: 0,
            notifications_checked: AtomicUsize::new(0),
            report_at: DateTime::<Utc>::MIN_UTC,
        }
    }

    fn step(&mut self, what: &str) {
        self.steps += 1;
        println!(
            "step {:>2} at day {:>2}: {what}",
            self.steps,
            self.time.offset.num_days()
        );
    }

    fn identity(&self) -> IdentityClient<Channel> {
        IdentityClient::new(self.identity.clone())
    }

    fn projects(&self) -> ProjectsClient<Channel> {
        ProjectsClient::new(self.projects.clone())
    }

    fn contributions(&self) -> ContributionsClient<Channel> {
        ContributionsClient::new(self.contributions.clone())
    }

    fn discussion(&self) -> DiscussionClient<Channel> {
        DiscussionClient::new(self.contributions.clone())
    }

    fn answers(&self) -> AnswersClient<Channel> {
        AnswersClient::new(self.contributions.clone())
    }

    fn notifications(&self) -> NotificationsClient<Channel> {
        NotificationsClient::new(self.notifications.clone())
    }

    /// Polls `check` until it has an answer, for at most [`PATIENCE`].
    async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(found) = check().await {
                return found;
            }
            assert!(Instant::now() < deadline, "{what} within {PATIENCE:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn sign_in(&self, name: &str, email: &str) -> Person {
        let session = self
            .identity()
            .login(timed(identity::LoginRequest {
                email: email.to_owned(),
                password: PASSWORD.to_owned(),
            }))
            .await
            .unwrap_or_else(|s| panic!("{email} signs in: {s:?}"))
            .into_inner();
        Person {
            name: name.to_owned(),
            email: email.to_owned(),
            id: session.user_id,
            token: session.access_token,
        }
    }

    /// Access tokens live 15 minutes of platform time: after the clock
    /// moved, people sign in again.
    async fn sign_in_again(&self, people: &mut [&mut Person]) {
        for person in people {
            **person = self.sign_in(&person.name, &person.email).await;
        }
    }

    /// Registers with the policy's district, confirms the address with the
    /// code from the confirmation mail, and signs in confirmed.
    async fn registers_and_confirms(
        &self,
        name: &str,
        email: &str,
        locale: &str,
        district: &str,
    ) -> Person {
        let registered = self
            .identity()
            .register(timed(identity::RegisterRequest {
                email: email.to_owned(),
                password: PASSWORD.to_owned(),
                display_name: name.to_owned(),
                locale: locale.to_owned(),
                fields: HashMap::from([(
                    "district".to_owned(),
                    identity::FieldValue {
                        value: Some(identity::field_value::Value::Choice(district.to_owned())),
                    },
                )]),
            }))
            .await
            .unwrap_or_else(|s| panic!("{email} registers: {s:?}"))
            .into_inner();
        assert!(registered.confirmation_sent);
        let unconfirmed = self.sign_in(name, email).await;
        let me = self
            .identity()
            .get_me(unconfirmed.call(identity::GetMeRequest {}))
            .await
            .expect("the new account")
            .into_inner();
        assert!(!me.email_confirmed);
        assert_eq!(
            me.fields.get("district").and_then(|f| f.value.clone()),
            Some(identity::field_value::Value::Choice(district.to_owned()))
        );
        let mail = self
            .mail_to(&unconfirmed, |m| confirmation_code(&m.text()).is_some())
            .await;
        let code = confirmation_code(&mail.text()).expect("a code");
        self.identity()
            .confirm_email(timed(identity::ConfirmEmailRequest {
                email: email.to_owned(),
                code,
            }))
            .await
            .unwrap_or_else(|s| panic!("{email} confirms: {s:?}"));
        let person = self.sign_in(name, email).await;
        let me = self
            .identity()
            .get_me(person.call(identity::GetMeRequest {}))
            .await
            .expect("the confirmed account")
            .into_inner();
        assert!(me.email_confirmed);
        person
    }

    /// The first mail to `who` that `wanted` picks, waiting for it.
    async fn mail_to(&self, who: &Person, wanted: impl Fn(&Mail) -> bool) -> Mail {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let theirs: Vec<Mail> = self
                .sink
                .mails()
                .await
                .into_iter()
                .filter(|m| m.to.contains(&who.email))
                .collect();
            if let Some(found) = theirs.iter().find(|m| wanted(m)) {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the mail to {} within {PATIENCE:?}; they have: {:?}",
                who.email,
                theirs.iter().map(Mail::subject).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn inbox(&self, who: &Person) -> Vec<notifications::Notification> {
        self.notifications()
            .list_notifications(who.call(notifications::ListNotificationsRequest {
                page_size: 100,
                ..Default::default()
            }))
            .await
            .unwrap_or_else(|s| panic!("{}'s inbox: {s:?}", who.email))
            .into_inner()
            .notifications
    }

    /// Waits for a notification of `kind` (about `input`, if given) in
    /// `who`'s inbox.
    async fn wait_for_notification(
        &self,
        who: &Person,
        kind: &str,
        input: Option<&str>,
    ) -> notifications::Notification {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let inbox = self.inbox(who).await;
            if let Some(found) = inbox
                .iter()
                .find(|n| n.kind == kind && input.is_none_or(|i| n.input_id == i))
            {
                assert!(!found.title.is_empty(), "{found:?}");
                self.notifications_checked.fetch_add(1, Ordering::Relaxed);
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{kind} in {}'s inbox within {PATIENCE:?}; it holds: {:?}",
                who.email,
                inbox
                    .iter()
                    .map(|n| (n.kind.as_str(), n.title.as_str()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A six-or-more-digit number in a mail's text: the confirmation code.
fn confirmation_code(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() >= 6)
        .map(str::to_owned)
}

async fn grant(
    city: &City,
    admin: &Person,
    who: &Person,
    role: identity::PlatformRole,
    reviewer: bool,
) {
    let user = city
        .identity()
        .grant_role(admin.call(identity::GrantRoleRequest {
            user_id: who.id.clone(),
            role: role as i32,
            project_reviewer: reviewer,
        }))
        .await
        .unwrap_or_else(|s| panic!("{} gets {role:?}: {s:?}", who.email))
        .into_inner();
    assert!(user.roles.iter().any(|r| r.role == role as i32));
}

/// Posts an idea, waiting while contributions has not yet heard of the
/// published project over the bus.
async fn post_idea(
    city: &City,
    author: &Person,
    project: &projects::Project,
    title: &str,
    body: &str,
) -> contributions::Input {
    let request = contributions::CreateInputRequest {
        project_id: project.id.clone(),
        phase_id: project.phases[0].id.clone(),
        title: title.to_owned(),
        body: body.to_owned(),
        request_id: format!("idea {title}"),
        ..Default::default()
    };
    let what = format!("contributions takes {title:?}");
    city.eventually(&what, || async {
        match city
            .contributions()
            .create_input(author.call(request.clone()))
            .await
        {
            Ok(input) => Some(input.into_inner()),
            Err(status) if not_known_yet(&status) => None,
            Err(status) => panic!("{title:?} refused: {status:?}"),
        }
    })
    .await
}

fn not_known_yet(status: &Status) -> bool {
    matches!(status.code(), Code::NotFound | Code::FailedPrecondition)
}

async fn statistics(city: &City, project: &projects::Project) -> contributions::Statistics {
    city.contributions()
        .get_statistics(timed(contributions::GetStatisticsRequest {
            project_id: project.id.clone(),
            phase_id: String::new(),
        }))
        .await
        .expect("the project's statistics")
        .into_inner()
}

/// Each action open to residents who confirmed their address.
fn confirmed_residents() -> projects::ActionPermissions {
    let confirmed = projects::Permission::ConfirmedEmail as i32;
    projects::ActionPermissions {
        post: confirmed,
        comment: confirmed,
        react: confirmed,
        vote: confirmed,
    }
}

fn ideation() -> projects::ParticipationMethod {
    projects::ParticipationMethod {
        method: Some(projects::participation_method::Method::Ideation(
            projects::Ideation { dislikes: false },
        )),
    }
}

fn texts(nl: &str, fr: &str, en: &str) -> projects::LocalizedText {
    projects::LocalizedText {
        text: HashMap::from([
            ("nl".to_owned(), nl.to_owned()),
            ("fr".to_owned(), fr.to_owned()),
            ("en".to_owned(), en.to_owned()),
        ]),
    }
}

fn ts(at: DateTime<Utc>) -> prost_types::Timestamp {
    inspraak_kit::clock::timestamp(at)
}

fn from_ts(at: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    inspraak_kit::clock::from_timestamp(at).expect("a time")
}
