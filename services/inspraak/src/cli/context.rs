//! Where the platform is: named contexts in a small config file, overridden
//! by flags and environment variables.
//!
//! The file (`$INSPRAAK_CONFIG`, else `$XDG_CONFIG_HOME/inspraak/config.yaml`,
//! else `~/.config/inspraak/config.yaml`):
//!
//! ```yaml
//! current: production
//! contexts:
//!   production:
//!     identity: https://identity.inspraak.city.example
//!     projects: https://projects.inspraak.city.example
//!     contributions: https://contributions.inspraak.city.example
//!     notifications: https://notifications.inspraak.city.example
//!     ca_file: /etc/inspraak/ca.pem
//! ```
//!
//! Without a file, the context `local` points at `inspraak all` on this host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::failure::{Failure, Result};

/// The four services, in the order tables list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Service {
    Identity,
    Projects,
    Contributions,
    Notifications,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Identity,
        Service::Projects,
        Service::Contributions,
        Service::Notifications,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Projects => "projects",
            Self::Contributions => "contributions",
            Self::Notifications => "notifications",
        }
    }

    /// The port `inspraak all` and `inspraak serve` use by default.
    fn default_port(self) -> u16 {
        match self {
            Self::Identity => 50051,
            Self::Projects => 50052,
            Self::Contributions => 50053,
            Self::Notifications => 50054,
        }
    }
}

/// One named platform, as the config file holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contributions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<String>,
    /// PEM file of the certificate authority the services' certificates
    /// chain to, when it is not a public one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The name the certificates are checked against, when it differs from
    /// the URLs' host (a tunnel, a port-forward).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_domain: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub contexts: BTreeMap<String, ContextEntry>,
}

impl ConfigFile {
    /// The file at `path`, or an empty one when there is none yet.
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_norway::from_str(&text)
                .map_err(|e| Failure::usage(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Failure::other(format!("reading {}: {e}", path.display()))),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_norway::to_string(self)
            .map_err(|e| Failure::other(format!("writing {}: {e}", path.display())))?;
        super::session::write_private(path, text.as_bytes())
    }
}

/// What flags and environment variables say; each wins over the file.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Connection (every command)")]
pub struct ConnectionArgs {
    /// The named context to use [default: the file's `current`, else `local`]
    #[arg(long, global = true, env = "INSPRAAK_CONTEXT")]
    pub context: Option<String>,
    /// The config file with the named contexts
    #[arg(long, global = true, env = "INSPRAAK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Identity's URL, e.g. http://127.0.0.1:50051
    #[arg(long, global = true, env = "INSPRAAK_IDENTITY_URL", value_name = "URL")]
    pub identity_url: Option<String>,
    /// Projects' URL
    #[arg(long, global = true, env = "INSPRAAK_PROJECTS_URL", value_name = "URL")]
    pub projects_url: Option<String>,
    /// Contributions' URL
    #[arg(
        long,
        global = true,
        env = "INSPRAAK_CONTRIBUTIONS_URL",
        value_name = "URL"
    )]
    pub contributions_url: Option<String>,
    /// Notifications' URL
    #[arg(
        long,
        global = true,
        env = "INSPRAAK_NOTIFICATIONS_URL",
        value_name = "URL"
    )]
    pub notifications_url: Option<String>,
    /// PEM file of a private certificate authority (turns TLS on)
    #[arg(long, global = true, env = "INSPRAAK_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Check the services' certificates against this name
    #[arg(long, global = true, env = "INSPRAAK_TLS_DOMAIN", value_name = "NAME")]
    pub tls_domain: Option<String>,
    /// How long one call may take, e.g. 30s or 2m
    #[arg(long, global = true, env = "INSPRAAK_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// `250ms`, `30s`, `5m`, `2h`.
pub fn parse_duration(raw: &str) -> std::result::Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{raw:?} needs a unit: ms, s, m or h"))?;
    let (number, unit) = raw.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number * 60)),
        "h" => Ok(Duration::from_secs(number * 3600)),
        "d" => Ok(Duration::from_secs(number * 86_400)),
        _ => Err(format!("{raw:?}: the unit is one of ms, s, m, h, d")),
    }
}

/// The config file's path.
pub fn config_path(args: &ConnectionArgs) -> Result<PathBuf> {
    if let Some(path) = &args.config {
        return Ok(path.clone());
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => {
                return Err(Failure::usage(
                    "no home directory: give the config file with --config or INSPRAAK_CONFIG",
                ));
            }
        },
    };
    Ok(base.join("inspraak").join("config.yaml"))
}

/// Context names become file names (the session's): letters, digits, `.`,
/// `_` and `-` only.
pub fn check_name(name: &str) -> Result<()> {
    let fine = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if fine {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "context name {name:?}: use letters, digits, '.', '_' and '-' only"
        )))
    }
}

/// Sessions live beside the config file, one per context.
pub fn session_path(config_path: &Path, context: &str) -> PathBuf {
    let dir = config_path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    dir.join("sessions").join(format!("{context}.json"))
}

/// A context resolved: every URL known, TLS decided.
#[derive(Debug, Clone)]
pub struct Context {
    pub name: String,
    pub config_path: PathBuf,
    urls: BTreeMap<Service, String>,
    ca_file: Option<PathBuf>,
    tls_domain: Option<String>,
    pub timeout: Duration,
}

impl Context {
    pub fn resolve(args: &ConnectionArgs) -> Result<Self> {
        let config_path = config_path(args)?;
        let file = ConfigFile::load(&config_path)?;
        let name = args
            .context
            .clone()
            .or_else(|| file.current.clone())
            .unwrap_or_else(|| "local".to_owned());
        check_name(&name)?;
        let entry = match file.contexts.get(&name) {
            Some(entry) => entry.clone(),
            // `local` needs no entry: it is `inspraak all` on this host.
            None if name == "local" => ContextEntry::default(),
            None => {
                return Err(Failure::usage(format!(
                    "no context {name:?} in {} (see `inspraak context list`)",
                    config_path.display()
                )));
            }
        };
        let mut urls = BTreeMap::new();
        for service in Service::ALL {
            let (flag, from_file) = match service {
                Service::Identity => (&args.identity_url, &entry.identity),
                Service::Projects => (&args.projects_url, &entry.projects),
                Service::Contributions => (&args.contributions_url, &entry.contributions),
                Service::Notifications => (&args.notifications_url, &entry.notifications),
            };
            let url = flag
                .clone()
                .or_else(|| from_file.clone())
                .unwrap_or_else(|| format!("http://127.0.0.1:{}", service.default_port()));
            urls.insert(service, url);
        }
        Ok(Self {
            name,
            config_path,
            urls,
            ca_file: args.ca_file.clone().or(entry.ca_file),
            tls_domain: args.tls_domain.clone().or(entry.tls_domain),
            timeout: args.timeout,
        })
    }

    pub fn url(&self, service: Service) -> &str {
        self.urls.get(&service).map_or("", String::as_str)
    }

    /// Where this context's session is kept.
    pub fn session_path(&self) -> PathBuf {
        session_path(&self.config_path, &self.name)
    }

    /// A channel to `service`; it connects on first use, so a service that
    /// is down fails only the calls made to it.
    pub fn channel(&self, service: Service) -> Result<Channel> {
        let url = self.url(service);
        let mut endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| Failure::usage(format!("{} URL {url:?}: {e}", service.name())))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(self.timeout);
        if url.starts_with("https://") || self.ca_file.is_some() {
            let mut tls = ClientTlsConfig::new().with_webpki_roots();
            if let Some(path) = &self.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| Failure::usage(format!("CA file {}: {e}", path.display())))?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            if let Some(domain) = &self.tls_domain {
                tls = tls.domain_name(domain.clone());
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| Failure::usage(format!("TLS for {url}: {e}")))?;
        }
        Ok(endpoint.connect_lazy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("12").is_err());
        assert!(parse_duration("3w").is_err());
    }

    #[test]
    fn flags_win_over_the_file_and_local_needs_no_entry() {
        let dir = std::env::temp_dir().join(format!("inspraak-ctx-{}", uuid::Uuid::new_v4()));
        let path = dir.join("config.yaml");
        let mut file = ConfigFile::default();
        file.contexts.insert(
            "staging".into(),
            ContextEntry {
                identity: Some("https://id.staging.example".into()),
                projects: Some("https://pr.staging.example".into()),
                ..ContextEntry::default()
            },
        );
        file.current = Some("staging".into());
        file.save(&path).unwrap();

        let mut args = ConnectionArgs {
            config: Some(path.clone()),
            timeout: Duration::from_secs(1),
            ..ConnectionArgs::default()
        };
        let staging = Context::resolve(&args).unwrap();
        assert_eq!(staging.name, "staging");
        assert_eq!(staging.url(Service::Identity), "https://id.staging.example");
        assert_eq!(
            staging.url(Service::Contributions),
            "http://127.0.0.1:50053"
        );
        assert_eq!(staging.session_path(), dir.join("sessions/staging.json"));

        args.projects_url = Some("http://10.0.0.1:1234".into());
        assert_eq!(
            Context::resolve(&args).unwrap().url(Service::Projects),
            "http://10.0.0.1:1234"
        );

        args.context = Some("local".into());
        assert_eq!(
            Context::resolve(&args).unwrap().url(Service::Identity),
            "http://127.0.0.1:50051"
        );
        args.context = Some("../escape".into());
        assert_eq!(
            Context::resolve(&args).unwrap_err().kind,
            super::super::failure::Kind::Usage
        );
        args.context = Some("nowhere".into());
        assert_eq!(
            Context::resolve(&args).unwrap_err().kind,
            super::super::failure::Kind::Usage
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
