//! `inspraak demo` against a platform deployed as in production: four
//! `inspraak serve` processes, each with its PostgreSQL database, on one
//! RabbitMQ exchange.

mod support;

use std::process::Command;

use inspraak_kit::testing::{TestDatabase, amqp_url, unique};
use support::{ADMIN, Platform, drain, setup_code, spawn_logged, temp_dir, watch};

const QUEUES: [&str; 7] = [
    "projects.collected",
    "projects.dlq",
    "contributions.projection",
    "contributions.people",
    "contributions.dlq",
    "notifications.notify",
    "notifications.dlq",
];

fn serve(
    service: &str,
    database: &TestDatabase,
    exchange: &str,
    prefix: &str,
    identity: Option<&str>,
    dir: &std::path::Path,
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_inspraak"));
    command
        .args(["serve", service])
        .env("DATABASE_URL", &database.url)
        .env("BUS_URL", amqp_url())
        .env("BUS_EXCHANGE", exchange)
        .env("BUS_QUEUE_PREFIX", prefix)
        .env("GRPC_ADDR", "127.0.0.1:0")
        .env("ADMIN_ADDR", "off")
        .env("UNSUBSCRIBE_ADDR", "127.0.0.1:0")
        .env("MAIL_DIR", dir.join("mail"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("BOOTSTRAP_ADMIN_EMAIL", ADMIN)
        .env_remove("IDENTITY_URL");
    if let Some(identity) = identity {
        command.env("IDENTITY_URL", identity);
    }
    command
}

/// Starts a service and returns the address it says it started on (and the
/// setup code, for identity).
fn start(command: Command, wants_code: bool) -> (std::process::Child, String, String) {
    let (child, rx) = spawn_logged(command);
    let (mut addr, mut code) = (String::new(), String::new());
    watch(&rx, "the service starts", |is_err, line| {
        if is_err {
            if let Some(found) = setup_code(line) {
                code = found;
            }
        } else if let Ok(entry) = serde_json::from_str::<serde_json::Value>(line)
            && entry["message"] == "started"
        {
            addr = entry["addr"].as_str().unwrap_or_default().to_owned();
        }
        !addr.is_empty() && (!wants_code || !code.is_empty())
    });
    drain(rx);
    (child, format!("http://{addr}"), code)
}

#[test]
fn demo_seeds_four_services_on_postgresql_and_rabbitmq() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let databases: Vec<TestDatabase> = runtime.block_on(async {
        let mut databases = Vec::new();
        for _ in 0..4 {
            databases.push(TestDatabase::postgres().await);
        }
        databases
    });
    let exchange = unique("inspraak.events.test_");
    let prefix = unique("test_");
    let dir = temp_dir();
    std::fs::create_dir_all(&dir).unwrap();

    let (identity, identity_url, code) = start(
        serve("identity", &databases[0], &exchange, &prefix, None, &dir),
        true,
    );
    let mut children = vec![identity];
    let mut urls = vec![("identity".to_owned(), identity_url.clone())];
    for (service, database) in ["projects", "contributions", "notifications"]
        .into_iter()
        .zip(&databases[1..])
    {
        let (child, url, _) = start(
            serve(
                service,
                database,
                &exchange,
                &prefix,
                Some(&identity_url),
                &dir,
            ),
            false,
        );
        children.push(child);
        urls.push((service.to_owned(), url));
    }
    let cleanup = {
        let exchange = exchange.clone();
        let queues: Vec<String> = QUEUES.iter().map(|q| format!("{prefix}{q}")).collect();
        move || {
            drop(databases);
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(inspraak_bus::testing::delete_rabbit_objects(
                    &amqp_url(),
                    &exchange,
                    &queues,
                ));
            }
        }
    };
    let platform = Platform::from_parts(children, dir, urls, code, Some(Box::new(cleanup)));
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
