//! `inspraak demo` against `inspraak all`, then the day-to-day tasks on the
//! city it seeded, and a resident refused with a clear message.

mod support;

use serde_json::Value;
use support::{Platform, stderr, text};

fn titles(listing: &Value) -> Vec<String> {
    let mut titles: Vec<String> = listing
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["title"].as_str().expect("title").to_owned())
        .collect();
    titles.sort();
    titles
}

#[test]
fn demo_seeds_a_city_the_listings_show_and_the_tasks_work_on_it() {
    // A core team of two at most: the demo's second admin fills it.
    let platform = Platform::start_configured(|_| {}, &[("IDENTITY_CORE_TEAM_MAX", "2")]);
    platform.sign_in_admin();

    let out = platform.cli(&["demo"]);
    assert!(out.status.success(), "{}", text(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("What to look at next"), "{summary}");
    assert!(summary.contains("inspraak projects list"), "{summary}");
    // Not a terminal: progress comes as plain lines on stderr.
    assert!(
        stderr(&out).contains("seeding the demo city [8/8]"),
        "{}",
        text(&out)
    );

    // Running it again makes nothing twice.
    let again = platform.json(&["demo"]);
    assert_eq!(again["inputs"], 6);

    let projects = platform.json(&["projects", "list"]);
    assert_eq!(
        titles(&projects),
        ["Greener Market Square", "Safer school streets"]
    );
    for project in projects.as_array().unwrap() {
        assert_eq!(project["state"], "published");
        assert_eq!(project["active"], true);
        assert_eq!(project["phases"].as_array().unwrap().len(), 2);
    }
    let table = platform.ok(&["projects", "list"]);
    assert!(table.starts_with("TITLE"), "{table}");
    assert!(table.contains("Greener Market Square"), "{table}");
    let square = projects
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "Greener Market Square")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = platform.ok(&["projects", "show", &square]);
    assert!(shown.contains("Ideas (ideation)"), "{shown}");
    let yaml = platform.ok(&["projects", "show", &square, "-o", "yaml"]);
    assert!(yaml.contains("title: Greener Market Square"), "{yaml}");

    let departments = platform.json(&["departments", "list"]);
    assert_eq!(
        departments
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Mobility", "Public space", "Social affairs"]
    );
    // Departments and roles: the day-to-day changes.
    let created = platform.json(&["departments", "create", "Culture"]);
    assert_eq!(created["name"], "Culture");
    let recreated = platform.json(&["departments", "create", "Culture"]);
    assert_eq!(
        recreated["id"], created["id"],
        "a second run creates nothing"
    );
    let renamed = platform.json(&["departments", "rename", "culture", "Culture and events"]);
    assert_eq!(renamed["name"], "Culture and events");
    let member = platform.json(&[
        "departments",
        "add-member",
        "Culture and events",
        "demo.bram@example.org",
    ]);
    assert_eq!(member["members"], 1);
    let granted = platform.json(&[
        "users",
        "grant",
        "demo.bram@example.org",
        "communication-officer",
    ]);
    assert_eq!(
        granted["roles"],
        serde_json::json!(["communication_officer"])
    );
    let shown = platform.json(&["users", "show", "demo.bram@example.org"]);
    assert_eq!(shown["department_ids"], serde_json::json!([created["id"]]));
    let revoked = platform.json(&[
        "users",
        "revoke",
        "demo.bram@example.org",
        "communication-officer",
    ]);
    assert_eq!(revoked["roles"], serde_json::json!([]));
    let officers = platform.json(&["users", "list", "--role", "communication-officer"]);
    assert_eq!(officers.as_array().unwrap().len(), 1, "{officers}");
    let archived = platform.json(&["departments", "archive", "Culture and events"]);
    assert_eq!(archived["archived"], true);

    // The cap on the core team holds, and the refusal says so.
    let out = platform.cli(&["users", "grant", "demo.bram@example.org", "admin"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    eprintln!("{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("inspraak: granting the role: refused"),
        "{}",
        text(&out)
    );

    let core_team = platform.json(&["users", "core-team"]);
    assert_eq!(core_team["core_team"].as_array().unwrap().len(), 2);
    assert_eq!(core_team["cap"], 2);
    assert_eq!(core_team["decision_makers"], 1);
    let proposals = platform.json(&["proposals", "list", "--state", "approved"]);
    assert_eq!(proposals.as_array().unwrap().len(), 2);

    // Six ideas, one answered: five await an answer, none overdue yet.
    let awaiting = platform.json(&["inputs", "awaiting"]);
    assert_eq!(awaiting.as_array().unwrap().len(), 5, "{awaiting}");
    assert!(
        awaiting
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["feedback_given"] == false)
    );
    // A project's inputs exported as JSON lines, to a file or to stdout.
    let export = platform.dir.join("square.jsonl");
    let out = platform.cli(&[
        "inputs",
        "export",
        &square,
        "--file",
        export.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("exporting Greener Market Square: 3/3"),
        "{}",
        text(&out)
    );
    let lines = std::fs::read_to_string(&export).unwrap();
    let exported: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported.len(), 3);
    assert!(
        exported
            .iter()
            .all(|i| i["project_id"] == square.as_str() && i["body"].is_string())
    );
    let stdout = platform.ok(&["inputs", "export", &square]);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");

    let overdue = platform.ok(&["inputs", "overdue"]);
    assert!(
        overdue.contains("0 inputs past their answer deadline"),
        "{overdue}"
    );

    // The decision-makers' report sees both projects' new inputs.
    let report = platform.json(&["report", "--days", "1"]);
    let reported = report["projects"].as_array().unwrap();
    assert_eq!(reported.len(), 2, "{report}");
    assert!(reported.iter().all(|p| p["new_inputs"] == 3), "{report}");

    // Proposals: the one the demo left for review is approved into a draft
    // project and published; one made through the API is rejected.
    let waiting = again["waiting_proposal"].as_str().unwrap().to_owned();
    let token = session_token(&platform);
    let proposal_b = submit_proposal(&platform, &token, "A cable car to the station");
    let submitted = platform.json(&["proposals", "list", "--state", "submitted"]);
    assert_eq!(
        titles(&submitted),
        [
            "A cable car to the station",
            "Community garden on the old rail yard"
        ]
    );
    let approved = platform.json(&["proposals", "approve", &waiting, "--reason", "fits"]);
    assert_eq!(approved["state"], "approved");
    let draft = approved["project"]["id"].as_str().unwrap().to_owned();
    assert_eq!(approved["project"]["state"], "draft");
    let rejected = platform.json(&[
        "proposals",
        "reject",
        &proposal_b,
        "--reason",
        "no budget this year",
    ]);
    assert_eq!(rejected["state"], "rejected");
    assert_eq!(rejected["decision_reason"], "no budget this year");
    let out = platform.cli(&["projects", "publish", &draft]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("published \"Community garden on the old rail yard\"")
    );
    let active = platform.json(&["projects", "list", "--active"]);
    assert_eq!(active.as_array().unwrap().len(), 3, "{active}");
    let out = platform.cli(&["projects", "archive", &draft]);
    assert!(out.status.success(), "{}", text(&out));
    let archived = platform.json(&["projects", "list", "--state", "archived"]);
    assert_eq!(titles(&archived), ["Community garden on the old rail yard"]);

    // A refused decision quotes the service's status.
    let out = platform.cli(&[
        "proposals",
        "approve",
        &proposal_b,
        "--reason",
        "changed my mind",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        stderr(&out).contains("(gRPC status FailedPrecondition)"),
        "{}",
        text(&out)
    );
    // Something that is not there.
    let out = platform.cli(&["projects", "show", "01890000-0000-7000-8000-000000000000"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));

    // Nothing failed in the demo: no failed mail, no dead letters.
    assert_eq!(
        platform.json(&["deliveries", "failed"]),
        Value::Array(vec![])
    );
    assert_eq!(
        platform.json(&["dead-letters", "list"]),
        Value::Array(vec![])
    );

    // A resident signed in is refused admin work, in plain words, with
    // exit code 4, and nothing is changed.
    platform.sign_in("demo.amira@example.org", "demo-city-2026");
    let out = platform.cli(&["dead-letters", "list", "notifications"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let message = stderr(&out);
    assert!(
        message.contains("listing notifications's dead letters: not allowed")
            && message.contains("dead letters are for platform admins")
            && message.contains("(gRPC status PermissionDenied)"),
        "{message}"
    );
    assert!(out.stdout.is_empty());
    let out = platform.cli(&["projects", "archive", &square]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let out = platform.cli(&["demo"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        stderr(&out).contains("seeded by a platform admin"),
        "{}",
        text(&out)
    );
}

fn session_token(platform: &Platform) -> String {
    let session: Value =
        serde_json::from_slice(&std::fs::read(platform.session_file()).unwrap()).unwrap();
    session["access_token"].as_str().unwrap().to_owned()
}

/// A proposal made through the API as the city's front end would (the
/// command line reviews proposals; it does not write them).
fn submit_proposal(platform: &Platform, token: &str, title: &str) -> String {
    use inspraak_proto::identity::v1::ListDepartmentsRequest;
    use inspraak_proto::identity::v1::identity_client::IdentityClient;
    use inspraak_proto::projects::v1::projects_client::ProjectsClient;
    use inspraak_proto::projects::v1::{
        Ideation, IntendedPhase, LocalizedText, ParticipationMethod, SubmitProposalRequest,
        participation_method,
    };
    let url = |service: &str| {
        platform
            .urls
            .iter()
            .find(|(s, _)| s == service)
            .unwrap()
            .1
            .clone()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let department = IdentityClient::connect(url("identity"))
            .await
            .unwrap()
            .list_departments(ListDepartmentsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .departments[0]
            .id
            .clone();
        let text = |s: &str| {
            Some(LocalizedText {
                text: [("nl".to_owned(), s.to_owned())].into_iter().collect(),
            })
        };
        let mut request = tonic::Request::new(SubmitProposalRequest {
            title: text(title),
            goal: text("Ask the neighbourhood first."),
            department_id: department,
            intended_phases: vec![IntendedPhase {
                title: text("Ideas"),
                method: Some(ParticipationMethod {
                    method: Some(participation_method::Method::Ideation(Ideation::default())),
                }),
                starts_at: Some(prost_types::Timestamp {
                    seconds: chrono::Utc::now().timestamp() + 86_400,
                    nanos: 0,
                }),
                ends_at: None,
            }],
            ..SubmitProposalRequest::default()
        });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        ProjectsClient::connect(url("projects"))
            .await
            .unwrap()
            .submit_proposal(request)
            .await
            .unwrap()
            .into_inner()
            .id
    })
}
