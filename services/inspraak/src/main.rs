//! `inspraak`: the platform's command.
//!
//! - `inspraak all`: the embedded platform — all four services in one
//!   process, each on its own port with its own SQLite file under the data
//!   directory, on one embedded broker. Nothing else to install.
//! - `inspraak serve <service>`: one service, configured from the environment
//!   (one container per service in production).
//! - `inspraak migrate <service>`: applies that service's migrations and exits
//!   (the Helm chart runs it as a pre-install/pre-upgrade hook).
//! - every other subcommand operates a running platform through its public
//!   gRPC APIs (see [`cli`]).

mod bootstrap;
mod cli;
mod embedded;

use bootstrap::bootstrap_admin;

use std::process::ExitCode;

use clap::Parser;
use cli::context::Service;
use cli::{Cli, Command, IdentityCommand};
use inspraak_contributions::ContributionsService;
use inspraak_host::{Defaults, ServiceApp, run_from_env};
use inspraak_identity::IdentityService;
use inspraak_notifications::NotificationsService;
use inspraak_projects::ProjectsService;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::All => embedded::run().await,
        Command::Serve { service } => match service {
            Service::Identity => run_from_env::<IdentityService>(Defaults::default()).await,
            Service::Projects => run_from_env::<ProjectsService>(Defaults::default()).await,
            Service::Contributions => {
                run_from_env::<ContributionsService>(Defaults::default()).await
            }
            Service::Notifications => {
                run_from_env::<NotificationsService>(Defaults::default()).await
            }
        },
        Command::Migrate { service } => match service {
            Service::Identity => migrate::<IdentityService>().await,
            Service::Projects => migrate::<ProjectsService>().await,
            Service::Contributions => migrate::<ContributionsService>().await,
            Service::Notifications => migrate::<NotificationsService>().await,
        },
        Command::Identity(IdentityCommand::BootstrapAdmin { email }) => {
            bootstrap_admin(&email).await
        }
        _ => cli::run(cli).await,
    }
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
