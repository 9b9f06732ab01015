//! Notifications' own settings: how e-mail leaves, where the unsubscribe
//! link points, how sending retries, and when digests go out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use inspraak_kit::Env;
use secrecy::SecretString;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (submission, port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: a relay on a trusted network, or a test sink.
    None,
}

impl std::str::FromStr for SmtpSecurity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Tls),
            "none" => Ok(Self::None),
            other => Err(format!("{other:?} is not starttls, tls or none")),
        }
    }
}

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailTransport {
    Smtp {
        host: String,
        port: u16,
        security: SmtpSecurity,
        username: Option<String>,
        password: Option<SecretString>,
        timeout: Duration,
    },
    /// Each message written as an `.eml` file: the embedded default.
    Directory(PathBuf),
}

#[derive(Debug, Clone)]
pub struct NotificationsSettings {
    pub transport: MailTransport,
    /// `MAIL_FROM`
    pub from: String,
    /// `PUBLIC_URL`: where the unsubscribe endpoint is reached from outside.
    pub public_url: String,
    /// `UNSUBSCRIBE_ADDR`: the HTTP listener of the one-click unsubscribe;
    /// `None` when "off".
    pub unsubscribe_addr: Option<SocketAddr>,
    /// `MAIL_POLL_INTERVAL`: how often due deliveries are looked for when
    /// nothing wakes the sender.
    pub poll_interval: Duration,
    /// `MAIL_MAX_ATTEMPTS`: after this many failed attempts a delivery is
    /// failed for good.
    pub max_attempts: i32,
    /// `MAIL_RETRY_BASE` and `MAIL_RETRY_MAX`: the back-off between
    /// attempts doubles from the base up to the maximum.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// `DIGEST_HOUR`: daily and weekly (Monday) digests go out at this hour
    /// in the platform's time zone.
    pub digest_hour: u32,
    /// `ESCALATION_DELAY`: how long an input may stay unanswered after it
    /// was announced overdue before the core team is told.
    pub escalation_delay: Duration,
    /// `ESCALATION_SCAN_INTERVAL`: how often that is looked for.
    pub escalation_scan_interval: Duration,
    /// `REPORT_SCAN_INTERVAL`: how often the decision-makers' report is
    /// looked at (made once its period has ended).
    pub report_scan_interval: Duration,
}

impl NotificationsSettings {
    pub fn from_env(env: &mut Env) -> Self {
        let host: Option<String> = env.optional("SMTP_HOST", "a host name");
        let transport = match host {
            Some(host) => {
                let security: SmtpSecurity =
                    env.or("SMTP_TLS", SmtpSecurity::StartTls, "starttls, tls or none");
                let default_port = match security {
                    SmtpSecurity::Tls => 465,
                    SmtpSecurity::StartTls => 587,
                    SmtpSecurity::None => 25,
                };
                MailTransport::Smtp {
                    host,
                    port: env.or("SMTP_PORT", default_port, "a port number"),
                    security,
                    username: env.optional("SMTP_USERNAME", "a user name"),
                    password: env.secret("SMTP_PASSWORD"),
                    timeout: env.duration_or("SMTP_TIMEOUT", Duration::from_secs(15)),
                }
            }
            None => MailTransport::Directory(env.or(
                "MAIL_DIR",
                PathBuf::from("data/mail"),
                "a directory",
            )),
        };
        let unsubscribe_addr = match env.optional::<String>("UNSUBSCRIBE_ADDR", "host:port or off")
        {
            Some(off) if off == "off" => None,
            Some(addr) => match addr.parse() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    env.reject(
                        "UNSUBSCRIBE_ADDR",
                        format!("{addr:?} is not host:port or off"),
                    );
                    None
                }
            },
            None => Some(SocketAddr::from(([0, 0, 0, 0], 8084))),
        };
        Self {
            transport,
            from: env.or(
                "MAIL_FROM",
                "Inspraak <no-reply@inspraak.invalid>".to_owned(),
                "a mailbox such as Inspraak <no-reply@city.example>",
            ),
            public_url: env
                .or(
                    "PUBLIC_URL",
                    "http://localhost:8084".to_owned(),
                    "the URL residents reach the platform at",
                )
                .trim_end_matches('/')
                .to_owned(),
            unsubscribe_addr,
            poll_interval: env.duration_or("MAIL_POLL_INTERVAL", Duration::from_secs(1)),
            max_attempts: env.bounded_or("MAIL_MAX_ATTEMPTS", 8, 1, 100),
            retry_base: env.duration_or("MAIL_RETRY_BASE", Duration::from_secs(30)),
            retry_max: env.duration_or("MAIL_RETRY_MAX", Duration::from_secs(3600)),
            digest_hour: env.bounded_or("DIGEST_HOUR", 7, 0, 23),
            escalation_delay: env.duration_or("ESCALATION_DELAY", Duration::from_secs(7 * 86_400)),
            escalation_scan_interval: env
                .duration_or("ESCALATION_SCAN_INTERVAL", Duration::from_secs(60)),
            report_scan_interval: env.duration_or("REPORT_SCAN_INTERVAL", Duration::from_secs(60)),
        }
    }

    /// The defaults, with mail written under `dir`.
    pub fn to_directory(dir: PathBuf) -> Self {
        let mut settings =
            Self::from_env(&mut Env::from_pairs(std::iter::empty::<(String, String)>()));
        settings.transport = MailTransport::Directory(dir);
        settings.unsubscribe_addr = None;
        settings
    }
}
