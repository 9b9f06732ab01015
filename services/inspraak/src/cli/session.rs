//! Being signed in: the session file of a context and the access token every
//! call carries, refreshed when it is about to expire.
//!
//! The file holds a refresh token, which is as good as a password for 30
//! days: it is written readable by its owner only (mode 0600, in a 0700
//! directory), and replaced atomically after every refresh, since identity
//! accepts each refresh token once.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use inspraak_proto::identity::v1::identity_client::IdentityClient;
use inspraak_proto::identity::v1::{IssueServiceTokenRequest, RefreshRequest};
use serde::{Deserialize, Serialize};
use tonic::Request;

use super::context::{Context, Service};
use super::failure::{Doing, Failure, Kind, Result};

/// The environment variable a service's client secret is read from.
pub const CLIENT_SECRET_ENV: &str = "INSPRAAK_CLIENT_SECRET";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The person's e-mail address, or the service's client id.
    pub who: String,
    /// Empty for a service.
    #[serde(default)]
    pub user_id: String,
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    /// Absent for a service: it asks for a new token with its secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

/// Writes `bytes` to `path` readable by its owner only, through a temporary
/// file and a rename, so a reader never sees half a file.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| Failure::other(format!("writing {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(fail)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

impl Session {
    pub fn load(path: &Path) -> Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Failure::not_signed_in(format!(
                    "the session file {} is damaged ({e}); run `inspraak login`",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Failure::other(format!("reading {}: {e}", path.display()))),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Failure::other(format!("encoding the session: {e}")))?;
        write_private(path, &bytes)
    }

    pub fn from_login(who: &str, session: inspraak_proto::identity::v1::Session) -> Self {
        Self {
            who: who.to_owned(),
            user_id: session.user_id,
            access_token: session.access_token,
            access_expires_at: time(session.access_token_expires_at),
            refresh_token: Some(session.refresh_token),
            refresh_expires_at: Some(time(session.refresh_token_expires_at)),
        }
    }

    /// Whether the access token is still good for a call that may take a
    /// while (half a minute of margin against clock skew and slow calls).
    fn fresh(&self) -> bool {
        self.access_expires_at - TimeDelta::seconds(30) > Utc::now()
    }
}

fn time(t: Option<prost_types::Timestamp>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .unwrap_or_else(Utc::now)
}

/// A guard on the context's session while it is refreshed: two commands
/// refreshing at once would present the same single-use refresh token, and
/// identity would revoke the whole session.
struct RefreshLock(std::fs::File);

impl RefreshLock {
    fn take(session_path: &Path) -> Result<Self> {
        let path = session_path.with_extension("lock");
        if let Some(dir) = path.parent() {
            create_private_dir(dir)
                .map_err(|e| Failure::other(format!("creating {}: {e}", dir.display())))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Failure::other(format!("opening {}: {e}", path.display())))?;
        file.lock()
            .map_err(|e| Failure::other(format!("locking {}: {e}", path.display())))?;
        Ok(Self(file))
    }
}

impl Drop for RefreshLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Hands out a valid access token for the context, refreshing (or, for a
/// service, asking again) when the one held is about to expire.
pub struct Tokens {
    context: Context,
    session: Option<Session>,
}

impl Tokens {
    pub fn new(context: &Context) -> Result<Self> {
        Ok(Self {
            session: Session::load(&context.session_path())?,
            context: context.clone(),
        })
    }

    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// A token good for the next call.
    pub async fn access_token(&mut self) -> Result<String> {
        match &self.session {
            None => Err(Failure::not_signed_in(format!(
                "not signed in to {:?}: run `inspraak login`",
                self.context.name
            ))),
            Some(session) if session.fresh() => Ok(session.access_token.clone()),
            Some(_) => self.renew().await,
        }
    }

    /// Replaces the access token now, whatever its expiry says (after a
    /// call was refused as unauthenticated, e.g. once keys were rotated).
    pub async fn renew(&mut self) -> Result<String> {
        let path = self.context.session_path();
        let _lock = RefreshLock::take(&path)?;
        // Another command may have refreshed while this one waited.
        if let Some(current) = Session::load(&path)?
            && current.fresh()
            && self
                .session
                .as_ref()
                .is_none_or(|held| held.access_token != current.access_token)
        {
            let token = current.access_token.clone();
            self.session = Some(current);
            return Ok(token);
        }
        let Some(session) = self.session.clone() else {
            return Err(Failure::not_signed_in(
                "not signed in: run `inspraak login`",
            ));
        };
        let mut identity = IdentityClient::new(self.context.channel(Service::Identity)?);
        let renewed = match &session.refresh_token {
            Some(refresh_token) => {
                let reply = identity
                    .refresh(RefreshRequest {
                        refresh_token: refresh_token.clone(),
                    })
                    .await
                    .doing("refreshing the session");
                match reply {
                    Ok(reply) => Session::from_login(&session.who, reply),
                    Err(failure) if failure.kind == Kind::NotSignedIn => {
                        return Err(Failure::not_signed_in(format!(
                            "the session of {} expired or was revoked: run `inspraak login`",
                            session.who
                        )));
                    }
                    Err(failure) => return Err(failure),
                }
            }
            None => {
                let Some(secret) = std::env::var(CLIENT_SECRET_ENV)
                    .ok()
                    .filter(|s| !s.is_empty())
                else {
                    return Err(Failure::not_signed_in(format!(
                        "the service token of {} expired: set {CLIENT_SECRET_ENV} or run `inspraak login --client-id {}`",
                        session.who, session.who
                    )));
                };
                let reply = identity
                    .issue_service_token(IssueServiceTokenRequest {
                        client_id: session.who.clone(),
                        client_secret: secret,
                    })
                    .await
                    .doing("asking for a service token")?;
                Session {
                    access_token: reply.access_token,
                    access_expires_at: time(reply.expires_at),
                    ..session
                }
            }
        };
        renewed.save(&path)?;
        let token = renewed.access_token.clone();
        self.session = Some(renewed);
        Ok(token)
    }
}

/// `message` carrying `token`.
pub fn bearer<T>(message: T, token: &str) -> Result<Request<T>> {
    let mut request = Request::new(message);
    let value = format!("Bearer {token}")
        .parse()
        .map_err(|_| Failure::not_signed_in("the stored token is damaged: run `inspraak login`"))?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_session_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("inspraak-session-{}", uuid::Uuid::new_v4()));
        let path = dir.join("sessions").join("local.json");
        let session = Session {
            who: "it@city.example".into(),
            user_id: "u".into(),
            access_token: "a".into(),
            access_expires_at: Utc::now(),
            refresh_token: Some("r".into()),
            refresh_expires_at: Some(Utc::now()),
        };
        session.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let loaded = Session::load(&path).unwrap().unwrap();
        assert_eq!(loaded.refresh_token.as_deref(), Some("r"));
        assert!(!loaded.fresh());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
