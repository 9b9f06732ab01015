//! `inspraak context`: the named platforms in the config file.

use serde_json::json;

use crate::cli::context::{
    ConfigFile, ConnectionArgs, Context, ContextEntry, Service, config_path, session_path,
};
use crate::cli::failure::{Failure, Result};
use crate::cli::output::Outcome;
use crate::cli::session::Session;

#[derive(Debug, clap::Subcommand)]
pub enum ContextCommand {
    /// The contexts in the config file, the current one marked
    #[command(after_help = "Example:\n  inspraak context list")]
    List,
    /// The context in use, with every URL resolved
    #[command(after_help = "Example:\n  inspraak context show --context staging")]
    Show,
    /// Create or change a context from the connection flags given
    #[command(after_help = "\
Example:
  inspraak context set production \\
    --identity-url https://identity.inspraak.city.example \\
    --projects-url https://projects.inspraak.city.example \\
    --contributions-url https://contributions.inspraak.city.example \\
    --notifications-url https://notifications.inspraak.city.example \\
    --ca-file /etc/inspraak/ca.pem")]
    Set { name: String },
    /// Make a context the current one
    #[command(after_help = "Example:\n  inspraak context use production")]
    Use { name: String },
    /// Remove a context and forget its session (`inspraak logout` first
    /// revokes it)
    #[command(after_help = "Example:\n  inspraak context delete staging")]
    Delete { name: String },
}

pub fn run(command: ContextCommand, args: &ConnectionArgs) -> Result<Outcome> {
    let path = config_path(args)?;
    let mut file = ConfigFile::load(&path)?;
    match command {
        ContextCommand::List => {
            let current = file.current.clone().unwrap_or_else(|| "local".to_owned());
            let mut names: Vec<String> = file.contexts.keys().cloned().collect();
            if !names.iter().any(|n| n == "local") {
                names.insert(0, "local".to_owned());
            }
            let mut rows = Vec::new();
            let mut values = Vec::new();
            for name in names {
                let context = Context::resolve(&ConnectionArgs {
                    context: Some(name.clone()),
                    config: Some(path.clone()),
                    timeout: args.timeout,
                    ..ConnectionArgs::default()
                })?;
                let who = Session::load(&context.session_path())
                    .ok()
                    .flatten()
                    .map(|s| s.who)
                    .unwrap_or_default();
                let mark = if name == current { "*" } else { "" };
                rows.push(vec![
                    mark.to_owned(),
                    name.clone(),
                    context.url(Service::Identity).to_owned(),
                    who.clone(),
                ]);
                values.push(json!({"name": name, "current": name == current, "identity": context.url(Service::Identity), "signed_in_as": who}));
            }
            Ok(Outcome::table(
                vec!["", "name", "identity", "signed in as"],
                rows,
                json!(values),
            ))
        }
        ContextCommand::Show => {
            let context = Context::resolve(args)?;
            let mut fields = vec![("context", context.name.clone())];
            let mut value = json!({"name": context.name});
            for service in Service::ALL {
                fields.push((service.name(), context.url(service).to_owned()));
                value[service.name()] = json!(context.url(service));
            }
            fields.push(("config", path.display().to_string()));
            fields.push(("session", context.session_path().display().to_string()));
            Ok(Outcome::record(fields, value))
        }
        ContextCommand::Set { name } => {
            crate::cli::context::check_name(&name)?;
            let entry = file.contexts.entry(name.clone()).or_default();
            let given = ContextEntry {
                identity: args.identity_url.clone(),
                projects: args.projects_url.clone(),
                contributions: args.contributions_url.clone(),
                notifications: args.notifications_url.clone(),
                ca_file: args.ca_file.clone(),
                tls_domain: args.tls_domain.clone(),
            };
            if given == ContextEntry::default() && *entry == ContextEntry::default() {
                return Err(Failure::usage(
                    "give at least one of --identity-url, --projects-url, --contributions-url, --notifications-url, --ca-file, --tls-domain",
                ));
            }
            merge(entry, given);
            if file.current.is_none() {
                file.current = Some(name.clone());
            }
            file.save(&path)?;
            Ok(Outcome::text(
                format!("context {name} saved in {}", path.display()),
                json!({"name": name, "saved": true}),
            ))
        }
        ContextCommand::Use { name } => {
            if name != "local" && !file.contexts.contains_key(&name) {
                return Err(Failure::usage(format!(
                    "no context {name:?} in {}",
                    path.display()
                )));
            }
            file.current = Some(name.clone());
            file.save(&path)?;
            Ok(Outcome::text(
                format!("now using {name}"),
                json!({"current": name}),
            ))
        }
        ContextCommand::Delete { name } => {
            if file.contexts.remove(&name).is_none() {
                return Err(Failure::usage(format!(
                    "no context {name:?} in {}",
                    path.display()
                )));
            }
            if file.current.as_deref() == Some(name.as_str()) {
                file.current = None;
            }
            file.save(&path)?;
            let _ = std::fs::remove_file(session_path(&path, &name));
            Ok(Outcome::text(
                format!("context {name} removed"),
                json!({"name": name, "removed": true}),
            ))
        }
    }
}

fn merge(entry: &mut ContextEntry, given: ContextEntry) {
    let ContextEntry {
        identity,
        projects,
        contributions,
        notifications,
        ca_file,
        tls_domain,
    } = given;
    entry.identity = identity.or(entry.identity.take());
    entry.projects = projects.or(entry.projects.take());
    entry.contributions = contributions.or(entry.contributions.take());
    entry.notifications = notifications.or(entry.notifications.take());
    entry.ca_file = ca_file.or(entry.ca_file.take());
    entry.tls_domain = tls_domain.or(entry.tls_domain.take());
}
