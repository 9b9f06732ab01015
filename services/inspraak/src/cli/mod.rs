//! The operator's command line: `inspraak <task>` against a running
//! platform, through its public gRPC APIs only (never its databases).

pub mod api;
pub mod context;
pub mod failure;
pub mod output;
pub mod progress;
pub mod session;
pub mod tasks;
pub mod words;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use context::{ConnectionArgs, Context, Service};
use failure::Result;
use output::{Format, Outcome};

const AFTER_HELP: &str = "\
Exit codes: 0 done, 1 other failure, 2 bad command line or file, 3 not signed in,
4 not allowed, 5 not found, 6 refused (invalid, precondition, conflict),
7 a service cannot be reached or is not serving.

Start here:
  inspraak health                      is every service up?
  inspraak login --email it@city.example
  inspraak demo                        seed a small city to look around in";

#[derive(Debug, Parser)]
#[command(
    name = "inspraak",
    version,
    about = "Runs the Inspraak platform, and operates a running one",
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Output format: a table for people, json or yaml for scripts
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Table, help_heading = "Output (every command)")]
    pub output: Format,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole platform in this process (SQLite and the embedded broker
    /// under INSPRAAK_DATA_DIR, default ./data)
    #[command(after_help = "Example:\n  INSPRAAK_DATA_DIR=/var/lib/inspraak inspraak all")]
    All,
    /// Run one service, configured from the environment
    #[command(
        after_help = "Example:\n  DATABASE_URL=postgres://… BUS_URL=amqp://… inspraak serve identity"
    )]
    Serve { service: Service },
    /// Apply one service's migrations to DATABASE_URL and exit
    #[command(after_help = "Example:\n  DATABASE_URL=postgres://… inspraak migrate projects")]
    Migrate { service: Service },
    /// Identity's database-side tasks (the first admin)
    #[command(subcommand)]
    Identity(IdentityCommand),

    /// Sign in to the current context and keep the session
    #[command(after_help = "\
Examples:
  inspraak login --email it-team@city.example       (asks for the password)
  printf %s \"$PASSWORD\" | inspraak login --email it-team@city.example --password-stdin
  INSPRAAK_CLIENT_SECRET=… inspraak login --client-id case-management")]
    Login(tasks::auth::LoginArgs),
    /// Sign out: revoke the session and forget it
    #[command(after_help = "Example:\n  inspraak logout")]
    Logout,
    /// Who the current session is
    #[command(after_help = "Example:\n  inspraak whoami -o json")]
    Whoami,
    /// Set the first admin's password with the one-time setup code (or a
    /// reset code)
    #[command(after_help = "\
Example:
  inspraak set-password --email it-team@city.example --code 12345678")]
    SetPassword(tasks::auth::SetPasswordArgs),
    /// Named contexts: which platform the commands talk to
    #[command(subcommand)]
    Context(tasks::contexts::ContextCommand),

    /// Readiness of every service in one table
    #[command(after_help = "Example:\n  inspraak health --context production")]
    Health,
    /// People, platform roles and the core team
    #[command(subcommand)]
    Users(tasks::people::UsersCommand),
    /// Departments
    #[command(subcommand)]
    Departments(tasks::departments::DepartmentsCommand),
    /// The registration policy, from a YAML or JSON file with a diff first
    #[command(subcommand)]
    Registration(tasks::settings::RegistrationCommand),
    /// Platform settings and the governance charter, from a YAML or JSON
    /// file with a diff first
    #[command(subcommand)]
    Settings(tasks::settings::SettingsCommand),
    /// Projects: list, show, publish, archive
    #[command(subcommand)]
    Projects(tasks::projects::ProjectsCommand),
    /// Project proposals: list, approve, reject
    #[command(subcommand)]
    Proposals(tasks::proposals::ProposalsCommand),
    /// Inputs awaiting an answer, those past their answer deadline, and a
    /// project's export
    #[command(subcommand)]
    Inputs(tasks::inputs::InputsCommand),
    /// The decision-makers' report for a period
    #[command(after_help = "\
Examples:
  inspraak report                        the last 30 days
  inspraak report --from 2026-01-01 --to 2026-04-01 -o yaml")]
    Report(tasks::report::ReportArgs),
    /// E-mail deliveries that failed, and sending them again
    #[command(subcommand)]
    Deliveries(tasks::deliveries::DeliveriesCommand),
    /// Events a service could not handle: list, inspect, replay
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(tasks::dead_letters::DeadLettersCommand),
    /// Seed a running platform with a small city through its APIs
    #[command(after_help = "\
Example:
  inspraak login --email it-team@city.example && inspraak demo")]
    Demo(tasks::demo::DemoArgs),
    /// Shell completions for bash or zsh
    #[command(after_help = "\
Examples:
  inspraak completions bash > /etc/bash_completion.d/inspraak
  inspraak completions zsh > \"${fpath[1]}/_inspraak\"")]
    Completions(CompletionsArgs),
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// On a platform without an admin, make <address> the first platform
    /// admin and print a one-time password setup code (needs identity's
    /// DATABASE_URL and BUS_URL)
    #[command(after_help = "\
Example:
  IDENTITY_DATABASE_URL=sqlite://data/identity.db?mode=rwc BUS_URL=sqlite://data/bus.db?mode=rwc \\
    inspraak identity bootstrap-admin --email it-team@city.example")]
    BootstrapAdmin {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Runs an operator task; the process's own commands (`all`, `serve`, ...)
/// are dispatched by `main` before this.
pub async fn run(cli: Cli) -> ExitCode {
    let format = cli.output;
    let outcome = dispatch(cli).await;
    match outcome {
        Ok(Some(outcome)) => {
            if let Err(failure) = outcome.print(format) {
                return report(&failure);
            }
            match &outcome.failure {
                Some(failure) => report(failure),
                None => ExitCode::SUCCESS,
            }
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(failure) => report(&failure),
    }
}

fn report(failure: &failure::Failure) -> ExitCode {
    eprintln!("inspraak: {failure}");
    failure.exit_code()
}

async fn dispatch(cli: Cli) -> Result<Option<Outcome>> {
    let quiet = cli.output != Format::Table;
    let context = || Context::resolve(&cli.connection);
    let api = || api::Api::new(context()?);
    Ok(Some(match cli.command {
        Command::All | Command::Serve { .. } | Command::Migrate { .. } | Command::Identity(_) => {
            return Err(failure::Failure::other("not an operator task"));
        }
        Command::Completions(args) => {
            tasks::completions::print(args.shell);
            return Ok(None);
        }
        Command::Context(command) => tasks::contexts::run(command, &cli.connection)?,
        Command::Login(args) => tasks::auth::login(&context()?, args).await?,
        Command::Logout => tasks::auth::logout(&context()?).await?,
        Command::Whoami => tasks::auth::whoami(&mut api()?).await?,
        Command::SetPassword(args) => tasks::auth::set_password(&context()?, args).await?,
        Command::Health => tasks::health::run(&context()?).await?,
        Command::Users(command) => tasks::people::run(&mut api()?, command).await?,
        Command::Departments(command) => tasks::departments::run(&mut api()?, command).await?,
        Command::Registration(command) => {
            tasks::settings::registration(&mut api()?, command, quiet).await?
        }
        Command::Settings(command) => {
            tasks::settings::platform(&mut api()?, command, quiet).await?
        }
        Command::Projects(command) => tasks::projects::run(&mut api()?, command).await?,
        Command::Proposals(command) => tasks::proposals::run(&mut api()?, command).await?,
        Command::Inputs(command) => tasks::inputs::run(&mut api()?, command, quiet).await?,
        Command::Report(args) => tasks::report::run(&mut api()?, args).await?,
        Command::Deliveries(command) => tasks::deliveries::run(&mut api()?, command).await?,
        Command::DeadLetters(command) => {
            tasks::dead_letters::run(&mut api()?, command, quiet).await?
        }
        Command::Demo(args) => tasks::demo::run(&mut api()?, args, quiet).await?,
    }))
}
