//! `inspraak demo` against a platform deployed as in production: four
//! `inspraak serve` processes, each with its PostgreSQL database, on one
//! RabbitMQ exchange.

mod support;

use support::Platform;

#[test]
fn demo_seeds_four_services_on_postgresql_and_rabbitmq() {
    let platform = Platform::start_production(&[]);
    platform.sign_in_admin();

    let seeded = platform.json(&["demo"]);
    assert_eq!(seeded["inputs"], 6, "{seeded}");
    let projects = platform.json(&["projects", "list", "--state", "published"]);
    assert_eq!(projects.as_array().unwrap().len(), 2, "{projects}");
    // Contributions learned of the projects over RabbitMQ: the ideas are
    // there, five waiting for an answer.
    let awaiting = platform.json(&["inputs", "awaiting"]);
    assert_eq!(awaiting.as_array().unwrap().len(), 5, "{awaiting}");
    assert_eq!(
        platform.json(&["dead-letters", "list"]),
        serde_json::Value::Array(vec![])
    );
}
