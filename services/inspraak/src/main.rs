//! `inspraak`: the platform's command.
//!
//! - `inspraak all`: the embedded platform — all four services in one
//!   process, each on its own port with its own SQLite file under the data
//!   directory, on one embedded broker. Nothing else to install.
//! - `inspraak serve <service>`: one service, configured from the environment
//!   (one container per service in production).
//! - `inspraak migrate <service>`: applies that service's migrations and exits
//!   (the Helm chart runs it as a pre-install/pre-upgrade hook).

mod bootstrap;
mod embedded;

use bootstrap::bootstrap_admin;

use std::process::ExitCode;

use inspraak_contributions::ContributionsService;
use inspraak_host::{Defaults, ServiceApp, run_from_env};
use inspraak_identity::IdentityService;
use inspraak_notifications::NotificationsService;
use inspraak_projects::ProjectsService;

const USAGE: &str = "\
usage: inspraak <command>

commands:
  all                  run the whole platform in this process (SQLite files and
                       the embedded broker under INSPRAAK_DATA_DIR, default ./data)
  serve <service>      run one service, configured from the environment
  migrate <service>    apply one service's migrations to DATABASE_URL and exit
  identity bootstrap-admin --email <address>
                       on a platform without an admin, make <address> the first
                       platform admin and print a one-time password setup code
  help                 show this text

services: identity, projects, contributions, notifications
";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["all"] => embedded::run().await,
        ["serve", service] => match *service {
            "identity" => run_from_env::<IdentityService>(Defaults::default()).await,
            "projects" => run_from_env::<ProjectsService>(Defaults::default()).await,
            "contributions" => run_from_env::<ContributionsService>(Defaults::default()).await,
            "notifications" => run_from_env::<NotificationsService>(Defaults::default()).await,
            other => unknown_service(other),
        },
        ["migrate", service] => match *service {
            "identity" => migrate::<IdentityService>().await,
            "projects" => migrate::<ProjectsService>().await,
            "contributions" => migrate::<ContributionsService>().await,
            "notifications" => migrate::<NotificationsService>().await,
            other => unknown_service(other),
        },
        ["identity", "bootstrap-admin", "--email", email] => bootstrap_admin(email).await,
        ["help" | "--help" | "-h"] => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn unknown_service(name: &str) -> ExitCode {
    eprintln!("inspraak: unknown service {name:?}\n");
    eprint!("{USAGE}");
    ExitCode::from(2)
}

/// Applies `A`'s migrations to the database in `DATABASE_URL` (or
/// `<SERVICE>_DATABASE_URL`). Safe to run from several places at once: on
/// PostgreSQL the run holds an advisory lock.
async fn migrate<A: ServiceApp>() -> ExitCode {
    let env = inspraak_kit::Env::from_process();
    let mut scoped = env.scoped(&format!("{}_", A::NAME.to_uppercase()));
    let settings = inspraak_kit::db::DatabaseSettings::from_env(&mut scoped, None);
    if let Err(errors) = scoped.finish() {
        eprint!("inspraak migrate {}: {errors}", A::NAME);
        return ExitCode::from(2);
    }
    let db = match inspraak_kit::db::connect(&settings).await {
        Ok(db) => db,
        Err(error) => {
            eprintln!("inspraak migrate {}: cannot connect: {error}", A::NAME);
            return ExitCode::FAILURE;
        }
    };
    match inspraak_kit::db::migrate::<A::Migrator>(&db).await {
        Ok(()) => {
            println!("inspraak migrate {}: up to date", A::NAME);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("inspraak migrate {}: {error}", A::NAME);
            ExitCode::FAILURE
        }
    }
}
