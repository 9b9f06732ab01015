//! Voting through the real gRPC server, on PostgreSQL and on SQLite: input
//! costs, baskets within each kind's limits, submitting once, results after
//! the phase, and (on PostgreSQL) concurrent edits and submits.

mod support;

use std::collections::BTreeMap;

use chrono::Duration;
use inspraak_bus::decode_payload;
use inspraak_contributions::counters;
use inspraak_contributions::store::entities::blocked_people;
use inspraak_contributions::store::voting::{basket_items, baskets, vote_tallies};
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::contributions::v1::voting_client::VotingClient;
use inspraak_proto::events::v1 as events;
use inspraak_proto::projects::v1 as projects;
use projects::Permission;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use support::{Backend, Platform, Who, ideation, phase, project};
use tonic::transport::Channel;
use tonic::{Code, Response, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

// --- helpers ---------------------------------------------------------------

/// The status of a call that must fail with `code`.
fn refused<T: std::fmt::Debug>(outcome: Result<T, Status>, code: Code, what: &str) -> Status {
    match outcome {
        Ok(value) => panic!("{what}: expected {code:?}, but it succeeded with {value:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "{what}: {status:?}");
            status
        }
    }
}

/// A FAILED_PRECONDITION whose message says `why`.
fn precondition<T: std::fmt::Debug>(outcome: Result<T, Status>, why: &str) {
    let status = refused(outcome, Code::FailedPrecondition, why);
    assert!(
        status.message().contains(why),
        "expected {why:?} in {:?}",
        status.message()
    );
}

/// The fields an INVALID_ARGUMENT names, sorted.
fn fields(status: &Status) -> Vec<String> {
    let mut fields: Vec<String> = status
        .get_details_bad_request()
        .expect("an INVALID_ARGUMENT names its fields")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    fields.sort();
    fields
}

/// A voting method of `kind`.
fn voting(kind: projects::voting::Kind) -> projects::ParticipationMethod {
    projects::ParticipationMethod {
        method: Some(projects::participation_method::Method::Voting(
            projects::Voting { kind: Some(kind) },
        )),
    }
}

fn single() -> projects::voting::Kind {
    projects::voting::Kind::Single(projects::SingleVote {})
}

fn multiple(max_votes: u32) -> projects::voting::Kind {
    projects::voting::Kind::Multiple(projects::MultipleVote { max_votes })
}

fn budget(total_budget: u64) -> projects::voting::Kind {
    projects::voting::Kind::Budget(projects::BudgetVote { total_budget })
}

fn client(platform: &Platform) -> VotingClient<Channel> {
    VotingClient::new(platform.server.channel.clone())
}

fn id(raw: &str) -> Uuid {
    Uuid::parse_str(raw).expect("an id")
}

/// A project whose ideation phase is open now and whose voting phase of
/// `kind` opens in a day and lasts a day, with inputs costing `costs` (set
/// by its manager before the vote), the clock then moved into the vote.
struct Vote {
    platform: Platform,
    manager: Who,
    author: Who,
    plan: projects::Project,
    inputs: Vec<proto::Input>,
}

impl Vote {
    async fn start(backend: Backend, kind: projects::voting::Kind, costs: &[i64]) -> Self {
        let platform = Platform::start(backend).await;
        let manager = platform.resident();
        let plan = planned(&platform, &manager, kind).await;
        let author = platform.resident();
        let mut inputs = Vec::new();
        for (i, cost) in costs.iter().enumerate() {
            let input = post(&platform, &plan, &author, &format!("Idee {i}")).await;
            let input = client(&platform)
                .set_input_cost(platform.by(
                    proto::SetInputCostRequest {
                        input_id: input.id.clone(),
                        cost: *cost,
                    },
                    Some(&manager),
                ))
                .await
                .expect("the manager sets the cost")
                .into_inner();
            assert_eq!(input.cost, *cost);
            inputs.push(input);
        }
        platform.advance(Duration::days(1) + Duration::hours(1));
        Self {
            platform,
            manager,
            author,
            plan,
            inputs,
        }
    }

    fn voting_phase(&self) -> String {
        self.plan.phases[1].id.clone()
    }

    fn item(&self, input: usize) -> proto::BasketItemRequest {
        proto::BasketItemRequest {
            phase_id: self.voting_phase(),
            input_id: self.inputs[input].id.clone(),
        }
    }

    async fn add(&self, input: usize, who: &Who) -> Result<proto::Basket, Status> {
        client(&self.platform)
            .add_to_basket(self.platform.by(self.item(input), Some(who)))
            .await
            .map(Response::into_inner)
    }

    async fn remove(&self, input: usize, who: &Who) -> Result<proto::Basket, Status> {
        client(&self.platform)
            .remove_from_basket(self.platform.by(self.item(input), Some(who)))
            .await
            .map(Response::into_inner)
    }

    async fn basket(&self, who: &Who) -> proto::Basket {
        client(&self.platform)
            .get_basket(self.platform.by(
                proto::GetBasketRequest {
                    phase_id: self.voting_phase(),
                },
                Some(who),
            ))
            .await
            .expect("read the basket")
            .into_inner()
    }

    async fn submit(&self, who: &Who) -> Result<proto::Basket, Status> {
        client(&self.platform)
            .submit_basket(self.platform.by(
                proto::SubmitBasketRequest {
                    phase_id: self.voting_phase(),
                },
                Some(who),
            ))
            .await
            .map(Response::into_inner)
    }

    async fn results(&self, who: Option<&Who>) -> Result<proto::GetResultsResponse, Status> {
        client(&self.platform)
            .get_results(self.platform.by(
                proto::GetResultsRequest {
                    phase_id: self.voting_phase(),
                },
                who,
            ))
            .await
            .map(Response::into_inner)
    }

    async fn input(&self, input: usize) -> proto::Input {
        self.platform
            .client()
            .get_input(self.platform.by(
                proto::GetInputRequest {
                    id: self.inputs[input].id.clone(),
                },
                None,
            ))
            .await
            .expect("read the input")
            .into_inner()
    }

    /// The input ids in `basket`, in its order.
    fn ids(&self, basket: &proto::Basket) -> Vec<usize> {
        basket
            .items
            .iter()
            .map(|item| {
                self.inputs
                    .iter()
                    .position(|i| i.id == item.input_id)
                    .expect("an input of the test")
            })
            .collect()
    }

    /// The phase's statistics: (votes, participants).
    async fn counted(&self) -> (i64, i64) {
        let db = &self.platform.server.running.context.db;
        counters::totals(db, id(&self.plan.id), id(&self.voting_phase()))
            .await
            .expect("read statistics")
            .map_or((0, 0), |s| (s.vote_count, s.participant_count))
    }
}

/// A published project of `manager`: ideation open now for a day, then a
/// voting phase of `kind` for a day.
async fn planned(
    platform: &Platform,
    manager: &Who,
    kind: projects::voting::Kind,
) -> projects::Project {
    let now = platform.now();
    let plan = project(
        manager,
        vec![
            phase(
                now - Duration::hours(1),
                Some(now + Duration::days(1)),
                ideation(),
                Permission::Registered,
            ),
            phase(
                now + Duration::days(1),
                Some(now + Duration::days(2)),
                voting(kind),
                Permission::Registered,
            ),
        ],
    );
    platform
        .project_changed("projects.project.created.v1", &plan, 1)
        .await;
    plan
}

async fn post(
    platform: &Platform,
    plan: &projects::Project,
    who: &Who,
    title: &str,
) -> proto::Input {
    platform
        .client()
        .create_input(platform.by(
            proto::CreateInputRequest {
                project_id: plan.id.clone(),
                phase_id: plan.phases[0].id.clone(),
                title: title.to_owned(),
                body: "Meer bomen langs de vaart".to_owned(),
                topics: vec!["groen".to_owned()],
                location: None,
                anonymous: false,
                request_id: String::new(),
            },
            Some(who),
        ))
        .await
        .expect("post an input")
        .into_inner()
}

// --- scenarios -------------------------------------------------------------

/// Single voting: one input; adding it twice changes nothing, a second is
/// refused; the basket is submitted once, then no longer changes; the votes
/// are counted and the event published.
async fn single_voting_takes_one_input_and_submits_once(backend: Backend) {
    let vote = Vote::start(backend, single(), &[0, 0]).await;
    let voter = vote.platform.resident();

    let empty = vote.basket(&voter).await;
    assert!(empty.items.is_empty());
    assert_eq!(empty.kind, proto::VoteKind::Single as i32);
    assert_eq!(empty.max_votes, 1);
    assert!(!empty.submitted);
    assert_eq!(empty.phase_id, vote.voting_phase());
    assert_eq!(empty.project_id, vote.plan.id);

    let basket = vote.add(0, &voter).await.expect("the first input");
    assert_eq!(vote.ids(&basket), vec![0]);
    assert_eq!(basket.items[0].title, "Idee 0");
    assert_eq!(basket.id, empty.id);
    let again = vote
        .add(0, &voter)
        .await
        .expect("adding it again is a no-op");
    assert_eq!(vote.ids(&again), vec![0]);
    precondition(vote.add(1, &voter).await, "single voting takes one input");
    assert_eq!(vote.ids(&vote.basket(&voter).await), vec![0]);

    let emptied = vote.remove(0, &voter).await.expect("remove");
    assert!(emptied.items.is_empty());
    let untouched = vote
        .remove(0, &voter)
        .await
        .expect("removing again is a no-op");
    assert!(untouched.items.is_empty());
    vote.add(1, &voter).await.expect("the other input");

    // An empty basket is not submitted.
    let idle = vote.platform.resident();
    precondition(vote.submit(&idle).await, "the basket is empty");
    assert!(!vote.basket(&idle).await.submitted);

    let submitted = vote.submit(&voter).await.expect("submit");
    assert!(submitted.submitted);
    assert!(submitted.submitted_at.is_some());
    assert_eq!(vote.ids(&submitted), vec![1]);
    precondition(vote.submit(&voter).await, "the basket was submitted");
    precondition(vote.add(0, &voter).await, "the basket was submitted");
    precondition(vote.remove(1, &voter).await, "the basket was submitted");
    let kept = vote.basket(&voter).await;
    assert_eq!(vote.ids(&kept), vec![1]);
    assert!(kept.submitted);

    assert_eq!(vote.input(1).await.vote_count, 1);
    assert_eq!(vote.input(0).await.vote_count, 0);
    assert_eq!(vote.counted().await, (1, 1));

    let published = vote
        .platform
        .shared
        .wait_for_events(
            "contributions.basket.submitted.v1",
            1,
            std::time::Duration::from_secs(10),
        )
        .await;
    assert_eq!(published.len(), 1, "one event for one submit");
    let event: events::BasketSubmitted = decode_payload(&published[0]).expect("a BasketSubmitted");
    assert_eq!(event.basket_id, submitted.id);
    assert_eq!(event.voter_id, voter.id);
    assert_eq!(event.phase_id, vote.voting_phase());
    assert_eq!(event.project_id, vote.plan.id);
    assert_eq!(event.input_ids, vec![vote.inputs[1].id.clone()]);
    assert_eq!(event.total_cost, 0);
}

/// Multiple voting: at most `max_votes` inputs.
async fn multiple_voting_takes_at_most_max_votes(backend: Backend) {
    let vote = Vote::start(backend, multiple(2), &[0, 0, 0]).await;
    let voter = vote.platform.resident();
    vote.add(0, &voter).await.expect("first");
    let two = vote.add(1, &voter).await.expect("second");
    assert_eq!(two.max_votes, 2);
    assert_eq!(two.kind, proto::VoteKind::Multiple as i32);
    precondition(vote.add(2, &voter).await, "at most 2 inputs per basket");
    assert_eq!(vote.ids(&vote.basket(&voter).await), vec![0, 1]);
    vote.remove(0, &voter).await.expect("make room");
    let swapped = vote.add(2, &voter).await.expect("then the third fits");
    assert_eq!(vote.ids(&swapped), vec![1, 2]);
    let submitted = vote.submit(&voter).await.expect("submit");
    assert_eq!(vote.ids(&submitted), vec![1, 2]);
    assert_eq!(vote.counted().await, (2, 1));

    // A blocked person does not vote (identity's block, as projected).
    let blocked = vote.platform.resident();
    blocked_people::Entity::insert(blocked_people::ActiveModel {
        user_id: Set(blocked.id.clone()),
        until: Set(None),
    })
    .exec_without_returning(&vote.platform.server.running.context.db)
    .await
    .expect("block");
    precondition(vote.add(0, &blocked).await, "your account is blocked");
    assert!(vote.basket(&blocked).await.items.is_empty());

    // An input withdrawn after it was chosen holds the submit back until it
    // leaves the basket.
    let late = vote.platform.resident();
    vote.add(0, &late).await.expect("add");
    vote.add(2, &late).await.expect("add");
    vote.platform
        .client()
        .delete_input(vote.platform.by(
            proto::DeleteInputRequest {
                id: vote.inputs[2].id.clone(),
            },
            Some(&vote.author),
        ))
        .await
        .expect("the author withdraws it");
    precondition(vote.submit(&late).await, "withdrawn or hidden");
    assert!(!vote.basket(&late).await.submitted);
    assert_eq!(vote.counted().await, (2, 1));
    let left = vote
        .remove(2, &late)
        .await
        .expect("it still leaves the basket");
    assert_eq!(vote.ids(&left), vec![0]);
    vote.submit(&late)
        .await
        .expect("then the submit goes through");
    assert_eq!(vote.input(0).await.vote_count, 1);
    assert_eq!(vote.counted().await, (3, 2));
}

/// Budget voting: exactly the budget is accepted, over it refused; costs
/// stay once the vote started.
async fn budget_voting_stays_within_the_budget(backend: Backend) {
    let vote = Vote::start(backend, budget(1_000), &[600, 400, 300]).await;
    let voter = vote.platform.resident();
    vote.add(0, &voter).await.expect("600");
    let full = vote
        .add(1, &voter)
        .await
        .expect("600 + 400 is exactly the budget");
    assert_eq!(full.total_cost, 1_000);
    assert_eq!(full.total_budget, 1_000);
    assert_eq!(full.kind, proto::VoteKind::Budget as i32);
    assert_eq!(
        full.items.iter().map(|i| i.cost).collect::<Vec<_>>(),
        vec![600, 400]
    );
    precondition(
        vote.add(2, &voter).await,
        "over the phase's budget of 1000 cents",
    );
    assert_eq!(vote.basket(&voter).await.total_cost, 1_000);
    let less = vote.remove(1, &voter).await.expect("remove 400");
    assert_eq!(less.total_cost, 600);
    let fits = vote.add(2, &voter).await.expect("600 + 300");
    assert_eq!(fits.total_cost, 900);

    // The vote has started: costs no longer change, even the manager's.
    precondition(
        client(&vote.platform)
            .set_input_cost(vote.platform.by(
                proto::SetInputCostRequest {
                    input_id: vote.inputs[2].id.clone(),
                    cost: 1,
                },
                Some(&vote.manager),
            ))
            .await,
        "a budget vote of this project has started",
    );
    assert_eq!(vote.input(2).await.cost, 300);

    let submitted = vote.submit(&voter).await.expect("submit");
    assert_eq!(submitted.total_cost, 900);
    let published = vote
        .platform
        .shared
        .wait_for_events(
            "contributions.basket.submitted.v1",
            1,
            std::time::Duration::from_secs(10),
        )
        .await;
    let event: events::BasketSubmitted = decode_payload(&published[0]).expect("a BasketSubmitted");
    assert_eq!(event.total_cost, 900);
    assert_eq!(vote.counted().await, (2, 1));
}

/// Costs are set by the project's managers and admins, within bounds; a
/// manager of another project is refused.
async fn costs_are_set_by_the_projects_managers(backend: Backend) {
    let platform = Platform::start(backend).await;
    let manager_a = platform.resident();
    let manager_b = platform.resident();
    let _a = planned(&platform, &manager_a, budget(1_000)).await;
    let b = planned(&platform, &manager_b, budget(1_000)).await;
    let author = platform.resident();
    let input = post(&platform, &b, &author, "Een bankje").await;
    let set = |cost: i64, who: Option<&Who>| {
        let mut client = client(&platform);
        let request = platform.by(
            proto::SetInputCostRequest {
                input_id: input.id.clone(),
                cost,
            },
            who,
        );
        async move { client.set_input_cost(request).await }
    };

    refused(
        set(500, Some(&manager_a)).await,
        Code::PermissionDenied,
        "a manager of another project",
    );
    refused(
        set(500, Some(&author)).await,
        Code::PermissionDenied,
        "the author",
    );
    refused(set(500, None).await, Code::Unauthenticated, "signed out");
    let status = refused(
        set(-1, Some(&manager_b)).await,
        Code::InvalidArgument,
        "a negative cost",
    );
    assert_eq!(fields(&status), vec!["cost"]);
    let status = refused(
        set(1_000_000_000_001, Some(&manager_b)).await,
        Code::InvalidArgument,
        "a cost over 10^12",
    );
    assert_eq!(fields(&status), vec!["cost"]);
    let status = refused(
        client(&platform)
            .set_input_cost(platform.by(
                proto::SetInputCostRequest {
                    input_id: "nope".to_owned(),
                    cost: -5,
                },
                Some(&manager_b),
            ))
            .await,
        Code::InvalidArgument,
        "a bad id and cost",
    );
    assert_eq!(fields(&status), vec!["cost", "input_id"]);
    refused(
        client(&platform)
            .set_input_cost(platform.by(
                proto::SetInputCostRequest {
                    input_id: Uuid::now_v7().to_string(),
                    cost: 5,
                },
                Some(&manager_b),
            ))
            .await,
        Code::NotFound,
        "an unknown input",
    );
    let unchanged = platform
        .client()
        .get_input(platform.by(
            proto::GetInputRequest {
                id: input.id.clone(),
            },
            None,
        ))
        .await
        .expect("read")
        .into_inner();
    assert_eq!(unchanged.cost, 0);

    let set_b = set(500, Some(&manager_b))
        .await
        .expect("B's manager")
        .into_inner();
    assert_eq!(set_b.cost, 500);
    let admin = platform.admin();
    let by_admin = set(1_000_000_000_000, Some(&admin))
        .await
        .expect("an admin, at the maximum")
        .into_inner();
    assert_eq!(by_admin.cost, 1_000_000_000_000);
}

/// Results: refused to the public before the phase ends, shown to staff;
/// after the end, votes per input, most first, for anyone.
async fn results_follow_the_end_of_the_phase(backend: Backend) {
    let vote = Vote::start(backend, multiple(2), &[0, 0, 0]).await;
    let choices: [&[usize]; 3] = [&[0, 1], &[1], &[1, 2]];
    for chosen in choices {
        let voter = vote.platform.resident();
        for input in chosen {
            vote.add(*input, &voter).await.expect("add");
        }
        vote.submit(&voter).await.expect("submit");
    }
    let resident = vote.platform.resident();
    precondition(
        vote.results(Some(&resident)).await,
        "the results are published when the voting phase has ended",
    );
    precondition(vote.results(None).await, "has ended");
    let early = vote
        .results(Some(&vote.manager))
        .await
        .expect("staff see results any time");
    assert!(!early.r#final);
    assert_eq!(early.ballots, 3);

    vote.platform.advance(Duration::days(1));
    precondition(vote.add(0, &resident).await, "the voting phase has ended");
    let results = vote.results(None).await.expect("public after the end");
    assert!(results.r#final);
    assert_eq!(results.ballots, 3);
    assert_eq!(results.kind, proto::VoteKind::Multiple as i32);
    let mut ties = [vote.inputs[0].id.clone(), vote.inputs[2].id.clone()];
    ties.sort();
    let expected = vec![
        (vote.inputs[1].id.clone(), 3),
        (ties[0].clone(), 1),
        (ties[1].clone(), 1),
    ];
    let got: Vec<(String, i64)> = results
        .results
        .iter()
        .map(|r| (r.input_id.clone(), r.votes))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(results.results[0].title, "Idee 1");
    assert_eq!(early.results.len(), 3);
    for (i, count) in [(0, 1), (1, 3), (2, 1)] {
        assert_eq!(vote.input(i).await.vote_count, count);
    }
    assert_eq!(vote.counted().await, (5, 3));
}

/// Baskets change only in an open voting phase, for people its vote
/// permission admits, on inputs of its project.
async fn closed_and_other_phases_refuse_votes(backend: Backend) {
    let platform = Platform::start(backend).await;
    let manager = platform.resident();
    let now = platform.now();
    let mut staff_only = phase(
        now - Duration::hours(1),
        Some(now + Duration::days(1)),
        voting(single()),
        Permission::Registered,
    );
    if let Some(p) = staff_only.permissions.as_mut() {
        p.vote = Permission::AdminsAndManagers as i32;
    }
    let plan = project(
        &manager,
        vec![
            phase(
                now - Duration::hours(1),
                Some(now + Duration::days(1)),
                ideation(),
                Permission::Registered,
            ),
            phase(
                now + Duration::days(1),
                Some(now + Duration::days(2)),
                voting(single()),
                Permission::Registered,
            ),
            staff_only,
        ],
    );
    platform
        .project_changed("projects.project.created.v1", &plan, 1)
        .await;
    let other = planned(&platform, &platform.resident(), single()).await;
    let author = platform.resident();
    let input = post(&platform, &plan, &author, "Hier").await;
    let elsewhere = post(&platform, &other, &author, "Elders").await;
    let withdrawn = post(&platform, &plan, &author, "Ingetrokken").await;
    platform
        .client()
        .delete_input(platform.by(
            proto::DeleteInputRequest {
                id: withdrawn.id.clone(),
            },
            Some(&author),
        ))
        .await
        .expect("the author withdraws it");

    let voter = platform.resident();
    let add = |phase: &str, input: &str, who: Option<&Who>| {
        let mut client = client(&platform);
        let request = platform.by(
            proto::BasketItemRequest {
                phase_id: phase.to_owned(),
                input_id: input.to_owned(),
            },
            who,
        );
        async move { client.add_to_basket(request).await }
    };
    let (ideas, later, staff) = (&plan.phases[0].id, &plan.phases[1].id, &plan.phases[2].id);
    precondition(
        add(later, &input.id, Some(&voter)).await,
        "the voting phase has not started",
    );
    precondition(
        add(ideas, &input.id, Some(&voter)).await,
        "the phase's method (ideation) holds no vote",
    );
    precondition(
        client(&platform)
            .get_basket(platform.by(
                proto::GetBasketRequest {
                    phase_id: ideas.clone(),
                },
                Some(&voter),
            ))
            .await,
        "holds no vote",
    );
    precondition(
        client(&platform)
            .get_results(platform.by(
                proto::GetResultsRequest {
                    phase_id: ideas.clone(),
                },
                None,
            ))
            .await,
        "holds no vote",
    );
    precondition(
        add(staff, &input.id, Some(&voter)).await,
        "voting in this phase is for admins and the project's managers",
    );
    refused(
        add(staff, &input.id, None).await,
        Code::Unauthenticated,
        "signed out",
    );
    refused(
        add(&Uuid::now_v7().to_string(), &input.id, Some(&voter)).await,
        Code::NotFound,
        "an unknown phase",
    );
    refused(
        add(staff, &withdrawn.id, Some(&manager)).await,
        Code::NotFound,
        "a withdrawn input",
    );
    let status = refused(
        add(staff, &elsewhere.id, Some(&manager)).await,
        Code::InvalidArgument,
        "an input of another project",
    );
    assert_eq!(fields(&status), vec!["input_id"]);
    let status = refused(
        add("x", "y", Some(&voter)).await,
        Code::InvalidArgument,
        "bad ids",
    );
    assert_eq!(fields(&status), vec!["input_id", "phase_id"]);

    // Nothing was stored by the refusals: the voter's basket is empty.
    let db = &platform.server.running.context.db;
    let items = basket_items::Entity::find().all(db).await.expect("items");
    assert!(items.is_empty(), "{items:?}");

    let basket = add(staff, &input.id, Some(&manager))
        .await
        .expect("the manager meets the permission")
        .into_inner();
    assert_eq!(basket.items.len(), 1);
    assert_eq!(basket.items[0].input_id, input.id);
}

// --- PostgreSQL: concurrency ---------------------------------------------------

/// 20 concurrent adds by one voter, together over the budget: the stored
/// basket never passes it, and its totals match its items.
async fn concurrent_adds_never_pass_the_budget(backend: Backend) {
    let costs: Vec<i64> = (0..20).map(|i| 50 + 10 * i).collect();
    let vote = Vote::start(backend, budget(1_000), &costs).await;
    let voter = vote.platform.resident();
    let outcomes = futures_join(&vote, &voter, costs.len()).await;
    let accepted: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.as_ref().ok().map(|_| i))
        .collect();
    for outcome in &outcomes {
        if let Err(status) = outcome {
            assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
            assert!(status.message().contains("total_budget"), "{status:?}");
        }
    }

    let db = &vote.platform.server.running.context.db;
    let stored = baskets::Entity::find()
        .filter(baskets::Column::VoterId.eq(voter.id.as_str()))
        .one(db)
        .await
        .expect("read")
        .expect("the basket");
    let items = basket_items::Entity::find()
        .filter(basket_items::Column::BasketId.eq(stored.id))
        .all(db)
        .await
        .expect("items");
    let sum: i64 = items.iter().map(|i| i.cost).sum();
    let expected: i64 = accepted.iter().map(|i| costs[*i]).sum();
    assert_eq!(stored.total_cost, sum);
    assert_eq!(sum, expected);
    assert_eq!(stored.item_count, i64::try_from(items.len()).expect("few"));
    assert_eq!(items.len(), accepted.len());
    assert!(sum <= 1_000, "the basket costs {sum}");
    assert!(!accepted.is_empty());
    // Totals only grew, so each refused input was over the budget by the
    // final total as well.
    for (i, cost) in costs.iter().enumerate() {
        if !accepted.contains(&i) {
            assert!(
                sum + cost > 1_000,
                "input {i} ({cost}) was refused but fits"
            );
        }
    }
    assert_eq!(vote.basket(&voter).await.total_cost, sum);
}

async fn futures_join(vote: &Vote, voter: &Who, n: usize) -> Vec<Result<proto::Basket, Status>> {
    let calls = (0..n).map(|i| {
        let mut client = client(&vote.platform);
        let request = vote.platform.by(vote.item(i), Some(voter));
        tokio::spawn(async move {
            client
                .add_to_basket(request)
                .await
                .map(Response::into_inner)
        })
    });
    let handles: Vec<_> = calls.collect();
    let mut outcomes = Vec::with_capacity(n);
    for handle in handles {
        outcomes.push(handle.await.expect("the call ran"));
    }
    outcomes
}

/// 50 voters submitting at once: every vote counted exactly.
async fn concurrent_submits_count_exactly(backend: Backend) {
    let vote = Vote::start(backend, multiple(3), &[0, 0, 0]).await;
    let voters: Vec<Who> = (0..50).map(|_| vote.platform.resident()).collect();
    let mut expected = [0i64; 3];
    for (n, voter) in voters.iter().enumerate() {
        let chosen: Vec<usize> = [(0, true), (1, n % 2 == 0), (2, n % 3 == 0)]
            .into_iter()
            .filter_map(|(i, yes)| yes.then_some(i))
            .collect();
        for i in chosen {
            vote.add(i, voter).await.expect("add");
            expected[i] += 1;
        }
    }
    assert_eq!(expected, [50, 25, 17]);
    let handles: Vec<_> = voters
        .iter()
        .map(|voter| {
            let mut client = client(&vote.platform);
            let request = vote.platform.by(
                proto::SubmitBasketRequest {
                    phase_id: vote.voting_phase(),
                },
                Some(voter),
            );
            tokio::spawn(async move { client.submit_basket(request).await })
        })
        .collect();
    for handle in handles {
        handle.await.expect("the call ran").expect("submitted");
    }

    for (i, count) in expected.iter().enumerate() {
        assert_eq!(vote.input(i).await.vote_count, *count, "input {i}");
    }
    let db = &vote.platform.server.running.context.db;
    let tallies: BTreeMap<Uuid, i64> = vote_tallies::Entity::find()
        .filter(vote_tallies::Column::PhaseId.eq(id(&vote.voting_phase())))
        .all(db)
        .await
        .expect("tallies")
        .into_iter()
        .map(|t| (t.input_id, t.votes))
        .collect();
    assert_eq!(tallies.get(&Uuid::nil()), Some(&50));
    for (i, count) in expected.iter().enumerate() {
        assert_eq!(tallies.get(&id(&vote.inputs[i].id)), Some(count));
    }
    assert_eq!(vote.counted().await, (92, 50));
    let results = vote.results(Some(&vote.manager)).await.expect("results");
    assert_eq!(results.ballots, 50);
    assert_eq!(
        results.results.iter().map(|r| r.votes).collect::<Vec<_>>(),
        vec![50, 25, 17]
    );
    let published = vote
        .platform
        .shared
        .wait_for_events(
            "contributions.basket.submitted.v1",
            50,
            std::time::Duration::from_secs(20),
        )
        .await;
    assert_eq!(published.len(), 50);
}

inspraak_host::on_both_databases!(
    single_voting_takes_one_input_and_submits_once,
    multiple_voting_takes_at_most_max_votes,
    budget_voting_stays_within_the_budget,
    costs_are_set_by_the_projects_managers,
    results_follow_the_end_of_the_phase,
    closed_and_other_phases_refuse_votes,
);

/// Row locks under READ COMMITTED are what these exercise; SQLite runs one
/// writer at a time.
mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_adds_never_pass_the_budget() {
        super::concurrent_adds_never_pass_the_budget(super::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_submits_count_exactly() {
        super::concurrent_submits_count_exactly(super::Backend::Postgres).await;
    }
}
