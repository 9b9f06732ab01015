//! `inspraak identity bootstrap-admin --email <address>`: the first platform
//! admin, straight into identity's database (its migrations applied first).
//! The events it writes wait in identity's outbox until identity runs.

use std::process::ExitCode;

use inspraak_bus::Bus;
use inspraak_host::{Context, Defaults, ServiceApp, ServiceConfig};
use inspraak_identity::IdentityService;
use inspraak_identity::bootstrap::{Bootstrapped, first_admin};
use inspraak_identity::domain::Email;
use inspraak_kit::{Clock, Env};

pub async fn bootstrap_admin(email: &str) -> ExitCode {
    let email = match Email::parse("--email", email) {
        Ok(email) => email,
        Err(_) => {
            eprintln!("inspraak identity bootstrap-admin: {email:?} is not an e-mail address");
            return ExitCode::from(2);
        }
    };
    let env = Env::from_process();
    let mut scoped = env.scoped("IDENTITY_");
    let service = IdentityService::configure(&mut scoped);
    // The setup code's validity counts on the platform's time.
    let clock = Clock::from_env(&mut scoped);
    let config = ServiceConfig::from_env(
        &env,
        IdentityService::NAME,
        IdentityService::DEFAULT_PORT,
        Defaults::default(),
    );
    let config = match (config, scoped.finish()) {
        (Ok(config), Ok(())) => config,
        (config, own) => {
            let problems = config
                .err()
                .into_iter()
                .chain(own.err())
                .flat_map(|e| e.0)
                .collect();
            eprint!(
                "inspraak identity bootstrap-admin: {}",
                inspraak_kit::config::ConfigErrors(problems)
            );
            return ExitCode::from(2);
        }
    };
    match run(service, config, clock, &email).await {
        Ok(Bootstrapped::Created {
            user_id,
            setup_code,
        }) => {
            println!("first platform admin: {email} ({user_id})");
            println!("one-time password setup code (valid 72 hours): {setup_code}");
            println!("set the password with Identity/ResetPassword (email, code, new_password)");
            ExitCode::SUCCESS
        }
        Ok(Bootstrapped::AlreadyHasAdmin) => {
            eprintln!(
                "inspraak identity bootstrap-admin: the platform has an admin already; nothing done"
            );
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("inspraak identity bootstrap-admin: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    service: IdentityService,
    config: ServiceConfig,
    clock: Clock,
    email: &Email,
) -> Result<Bootstrapped, String> {
    let db = inspraak_kit::db::connect(&config.database)
        .await
        .map_err(|e| format!("database: {e}"))?;
    inspraak_kit::db::migrate::<inspraak_identity::Migrator>(&db)
        .await
        .map_err(|e| format!("migrations: {e}"))?;
    let bus = Bus::open(IdentityService::NAME, config.bus.clone())
        .await
        .map_err(|e| format!("bus: {e}"))?;
    let context = Context {
        db,
        bus,
        clock,
        auth: config.auth.clone(),
    };
    let state = service.state(&context).map_err(|e| e.to_string())?;
    first_admin(&state, email).await.map_err(|e| e.to_string())
}
