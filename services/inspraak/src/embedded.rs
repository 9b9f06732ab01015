//! The embedded platform: all four services in one process.

use std::path::PathBuf;
use std::process::ExitCode;

use inspraak_bus::broker::{Broker, EmbeddedBroker};
use inspraak_contributions::ContributionsService;
use inspraak_host::{Defaults, Running, ServiceApp, ServiceConfig};
use inspraak_identity::IdentityService;
use inspraak_kit::Clock;
use inspraak_kit::config::{ConfigErrors, Env};
use inspraak_kit::telemetry::{Telemetry, TelemetrySettings};
use inspraak_notifications::NotificationsService;
use inspraak_projects::ProjectsService;
use tokio_util::sync::CancellationToken;

/// Where the embedded platform keeps its files (`INSPRAAK_DATA_DIR`).
fn data_dir(env: &mut Env) -> PathBuf {
    env.or("INSPRAAK_DATA_DIR", PathBuf::from("data"), "a directory")
}

fn sqlite_url(dir: &std::path::Path, file: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.join(file).display())
}

/// Each service's defaults: its own SQLite file, the shared bus store, a
/// port of its own on the loopback interface, and identity on this host for
/// token verification. Every default can still be overridden with the
/// service's prefix, e.g. `PROJECTS_GRPC_ADDR` or `CONTRIBUTIONS_DATABASE_URL`.
fn config<A: ServiceApp>(
    base: &Env,
    dir: &std::path::Path,
) -> Result<(A, ServiceConfig), ConfigErrors> {
    let mut env = base.clone();
    // An unprefixed GRPC_ADDR would put all four services on one port.
    let addr = format!("{}_GRPC_ADDR", A::NAME.to_uppercase());
    if !env.is_set(&addr) {
        env.set(addr, format!("127.0.0.1:{}", A::DEFAULT_PORT));
    }
    let admin = format!("{}_ADMIN_ADDR", A::NAME.to_uppercase());
    if !env.is_set(&admin) {
        env.set(
            admin,
            format!("127.0.0.1:{}", 9090 + A::DEFAULT_PORT.saturating_sub(50050)),
        );
    }
    // Notifications writes its mail under the data directory and serves the
    // unsubscribe link on the loopback interface.
    for (key, value) in [
        (
            "NOTIFICATIONS_MAIL_DIR",
            dir.join("mail").display().to_string(),
        ),
        (
            "NOTIFICATIONS_UNSUBSCRIBE_ADDR",
            "127.0.0.1:8084".to_owned(),
        ),
    ] {
        if !env.is_set(key) && !env.is_set(key.trim_start_matches("NOTIFICATIONS_")) {
            env.set(key, value);
        }
    }
    let mut own = env.scoped(&format!("{}_", A::NAME.to_uppercase()));
    let app = A::configure(&mut own);
    let config = ServiceConfig::from_env(
        &env,
        A::NAME,
        A::DEFAULT_PORT,
        Defaults {
            database_url: Some(sqlite_url(dir, &format!("{}.db", A::NAME))),
            bus_url: Some(sqlite_url(dir, "bus.db")),
            identity_url: Some(format!(
                "http://127.0.0.1:{}",
                IdentityService::DEFAULT_PORT
            )),
        },
    );
    match (config, own.finish()) {
        (Ok(config), Ok(())) => Ok((app, config)),
        (config, own) => Err(ConfigErrors(
            config
                .err()
                .into_iter()
                .chain(own.err())
                .flat_map(|e| e.0)
                .collect(),
        )),
    }
}

pub async fn run() -> ExitCode {
    // A snapshot of the process environment that per-service defaults can be
    // added to.
    let env = Env::with_overrides(std::iter::empty::<(String, String)>());
    let mut own = env.clone();
    let dir = data_dir(&mut own);
    let telemetry_settings = TelemetrySettings::from_env(&mut own, "inspraak");
    // One clock for the four services, as they share one process.
    let clock = Clock::from_env(&mut own);
    let configs = (
        config::<IdentityService>(&env, &dir),
        config::<ProjectsService>(&env, &dir),
        config::<ContributionsService>(&env, &dir),
        config::<NotificationsService>(&env, &dir),
    );
    let (identity, projects, contributions, notifications) = match (configs, own.finish()) {
        ((Ok(a), Ok(b), Ok(c), Ok(d)), Ok(())) => (a, b, c, d),
        ((a, b, c, d), own) => {
            let mut problems = Vec::new();
            for result in [a.err(), b.err(), c.err(), d.err(), own.err()]
                .into_iter()
                .flatten()
            {
                problems.extend(result.0);
            }
            problems.dedup();
            eprint!("inspraak all: {}", ConfigErrors(problems));
            return ExitCode::from(2);
        }
    };
    if let Err(error) = std::fs::create_dir_all(&dir) {
        eprintln!("inspraak all: cannot create {}: {error}", dir.display());
        return ExitCode::FAILURE;
    }
    let telemetry = match Telemetry::init(&telemetry_settings) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("inspraak all: cannot start telemetry: {error:#}");
            return ExitCode::from(2);
        }
    };
    // Where the other services fetch identity's signing keys: wherever
    // identity really listens (its address may be moved, or be port 0),
    // unless the operator named an identity explicitly.
    let follow_identity = |service: &str| {
        !env.is_set("IDENTITY_URL")
            && !env.is_set(&format!("{}_IDENTITY_URL", service.to_uppercase()))
    };
    let follows = [
        follow_identity(ProjectsService::NAME),
        follow_identity(ContributionsService::NAME),
        follow_identity(NotificationsService::NAME),
    ];
    let code = serve_all(
        identity,
        projects,
        contributions,
        notifications,
        follows,
        clock,
    )
    .await;
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    code
}

async fn serve_all(
    identity: (IdentityService, ServiceConfig),
    projects: (ProjectsService, ServiceConfig),
    contributions: (ContributionsService, ServiceConfig),
    notifications: (NotificationsService, ServiceConfig),
    follow_identity: [bool; 3],
    clock: Clock,
) -> ExitCode {
    let shutdown = CancellationToken::new();
    if let Err(error) = inspraak_kit::shutdown::cancel_on_signal(shutdown.clone()) {
        tracing::error!(%error, "cannot install signal handlers");
        return ExitCode::FAILURE;
    }
    // One embedded broker for the four services, so a commit in one wakes the
    // consumers of another at once.
    let shared = match &identity.1.bus.url {
        inspraak_bus::BrokerUrl::Embedded(url) => match EmbeddedBroker::open(url).await {
            Ok(broker) => Some(Broker::Embedded(broker)),
            Err(error) => {
                tracing::error!(%error, "cannot open the embedded broker");
                return ExitCode::FAILURE;
            }
        },
        inspraak_bus::BrokerUrl::Amqp(_) => None,
    };
    let (mut projects, mut contributions, mut notifications) =
        (projects, contributions, notifications);
    let started = async {
        let identity = start(identity, &clock, &shutdown, &shared).await?;
        let mut at = identity.addr;
        if at.ip().is_unspecified() {
            at.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let url = format!("http://{at}");
        for (config, follow) in [&mut projects.1, &mut contributions.1, &mut notifications.1]
            .into_iter()
            .zip(follow_identity)
        {
            if follow {
                config.auth.identity_url = Some(url.clone());
            }
        }
        Ok::<_, inspraak_host::HostError>([
            identity,
            start(projects, &clock, &shutdown, &shared).await?,
            start(contributions, &clock, &shutdown, &shared).await?,
            start(notifications, &clock, &shutdown, &shared).await?,
        ])
    };
    let running = match started.await {
        Ok(running) => running,
        Err(error) => {
            tracing::error!(%error, "cannot start the platform");
            shutdown.cancel();
            return ExitCode::FAILURE;
        }
    };
    for (name, service) in ["identity", "projects", "contributions", "notifications"]
        .iter()
        .zip(&running)
    {
        let admin = service
            .admin_addr
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(service = name, addr = %service.addr, admin = %admin, "listening");
    }
    tracing::info!(
        "platform started; in another terminal: `inspraak health`, `inspraak login --email <admin>`, then `inspraak demo` seeds a small city (see the README's Operations section)"
    );
    let mut code = ExitCode::SUCCESS;
    for service in running {
        match service.stopped.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, "a service stopped with an error");
                shutdown.cancel();
                code = ExitCode::FAILURE;
            }
            Err(error) => {
                tracing::error!(%error, "a service crashed");
                shutdown.cancel();
                code = ExitCode::FAILURE;
            }
        }
    }
    code
}

async fn start<A: ServiceApp>(
    (app, config): (A, ServiceConfig),
    clock: &Clock,
    shutdown: &CancellationToken,
    shared: &Option<Broker>,
) -> Result<Running, inspraak_host::HostError> {
    let listener = tokio::net::TcpListener::bind(config.grpc.addr)
        .await
        .map_err(|source| inspraak_host::HostError::Bind {
            addr: config.grpc.addr,
            source,
        })?;
    inspraak_host::start_on(
        app,
        config,
        listener,
        clock.clone(),
        shutdown.clone(),
        shared.clone(),
    )
    .await
}
