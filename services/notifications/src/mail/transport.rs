//! Where rendered mail leaves: an SMTP server (STARTTLS, TLS or plain, with
//! authentication), or a directory of `.eml` files in the embedded default.

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::templates::Rendered;
use crate::settings::{MailTransport, SmtpSecurity};

/// Why a message did not leave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another attempt later (server down, 4xx).
    #[error("{0}")]
    Transient(String),
    /// Will never succeed (a bad address, 5xx).
    #[error("{0}")]
    Permanent(String),
}

/// One outgoing message.
pub struct Outgoing<'a> {
    pub to: &'a str,
    pub rendered: &'a Rendered,
    /// Stable per delivery: a message sent twice after a crash carries the
    /// same Message-ID, so receiving systems can drop the copy.
    pub message_id: String,
    /// The one-click unsubscribe link (RFC 8058), if the mail has one.
    pub unsubscribe: Option<&'a str>,
}

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Directory(AsyncFileTransport<Tokio1Executor>),
}

impl Transport {
    pub fn build(settings: &MailTransport) -> Result<Self, String> {
        match settings {
            MailTransport::Smtp {
                host,
                port,
                security,
                username,
                password,
                timeout,
            } => {
                let builder = match security {
                    SmtpSecurity::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                            .map_err(|e| format!("SMTP host {host}: {e}"))?
                    }
                    SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                        .map_err(|e| format!("SMTP host {host}: {e}"))?,
                    SmtpSecurity::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    }
                };
                let mut builder = builder.port(*port).timeout(Some(*timeout));
                if let (Some(user), Some(password)) = (username, password) {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        password.expose_secret().to_owned(),
                    ));
                }
                Ok(Self::Smtp(builder.build()))
            }
            MailTransport::Directory(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("mail directory {}: {e}", dir.display()))?;
                Ok(Self::Directory(AsyncFileTransport::new(dir)))
            }
        }
    }

    pub async fn send(&self, from: &str, outgoing: &Outgoing<'_>) -> Result<(), SendError> {
        let message = message(from, outgoing)?;
        match self {
            Self::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
            Self::Directory(files) => files
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Transient(e.to_string())),
        }
    }
}

fn header(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// The MIME message: text and HTML alternatives, and for mail one may
/// unsubscribe from, the RFC 8058 one-click headers.
fn message(from: &str, outgoing: &Outgoing<'_>) -> Result<Message, SendError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| SendError::Permanent(format!("MAIL_FROM {from:?}: {e}")))?;
    let to: Mailbox = outgoing
        .to
        .parse()
        .map_err(|e| SendError::Permanent(format!("address {:?}: {e}", outgoing.to)))?;
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(outgoing.rendered.subject.clone())
        .message_id(Some(outgoing.message_id.clone()));
    if let Some(link) = outgoing.unsubscribe {
        builder = builder
            .raw_header(header("List-Unsubscribe", format!("<{link}>")))
            .raw_header(header(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            outgoing.rendered.text.clone(),
            outgoing.rendered.html.clone(),
        ))
        .map_err(|e| SendError::Permanent(format!("building the message: {e}")))
}
