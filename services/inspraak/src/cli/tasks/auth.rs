//! Signing in and out: `login`, `logout`, `whoami`, `set-password`.

use std::io::{BufRead, IsTerminal, Write};

use inspraak_proto::identity::v1::identity_client::IdentityClient;
use inspraak_proto::identity::v1::{
    GetMeRequest, IssueServiceTokenRequest, LoginRequest, LogoutRequest, ResetPasswordRequest,
};
use serde_json::json;

use crate::cli::api::{Api, call};
use crate::cli::context::{Context, Service};
use crate::cli::failure::{Doing, Failure, Kind, Result};
use crate::cli::output::Outcome;
use crate::cli::session::{CLIENT_SECRET_ENV, Session};
use crate::cli::words;

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The person's e-mail address (asked for when not given)
    #[arg(long, conflicts_with = "client_id")]
    pub email: Option<String>,
    /// Read the password from the first line of standard input instead of
    /// asking for it
    #[arg(long)]
    pub password_stdin: bool,
    /// Sign in as a service with client credentials; the secret is read from
    /// INSPRAAK_CLIENT_SECRET, else asked for
    #[arg(long, value_name = "NAME")]
    pub client_id: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct SetPasswordArgs {
    #[arg(long)]
    pub email: String,
    /// The one-time code (from `inspraak identity bootstrap-admin`, or a
    /// password-reset mail)
    #[arg(long)]
    pub code: String,
    /// Read the new password from the first line of standard input
    #[arg(long)]
    pub password_stdin: bool,
}

/// A secret from stdin's first line, or asked for without echo.
fn secret(prompt: &str, from_stdin: bool) -> Result<String> {
    let secret = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::usage(format!("reading standard input: {e}")))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        rpassword::prompt_password(prompt).map_err(|e| {
            Failure::usage(format!(
                "cannot ask for the password ({e}); use --password-stdin"
            ))
        })?
    };
    if secret.is_empty() {
        return Err(Failure::usage("the password is empty"));
    }
    Ok(secret)
}

fn ask(prompt: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "give --email (standard input is not a terminal)",
        ));
    }
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::usage(format!("reading standard input: {e}")))?;
    Ok(line.trim().to_owned())
}

pub async fn login(context: &Context, args: LoginArgs) -> Result<Outcome> {
    let mut identity = IdentityClient::new(context.channel(Service::Identity)?);
    let session = if let Some(client_id) = args.client_id {
        let secret = match std::env::var(CLIENT_SECRET_ENV)
            .ok()
            .filter(|s| !s.is_empty())
        {
            Some(secret) => secret,
            None => secret("Client secret: ", args.password_stdin)?,
        };
        let token = identity
            .issue_service_token(IssueServiceTokenRequest {
                client_id: client_id.clone(),
                client_secret: secret,
            })
            .await
            .doing("signing in as a service")?;
        Session {
            who: client_id,
            user_id: String::new(),
            access_token: token.access_token,
            access_expires_at: words::to_datetime(&token.expires_at)
                .unwrap_or_else(chrono::Utc::now),
            refresh_token: None,
            refresh_expires_at: None,
        }
    } else {
        let email = match args.email {
            Some(email) => email,
            None => ask("E-mail: ")?,
        };
        let password = secret("Password: ", args.password_stdin)?;
        let reply = identity
            .login(LoginRequest {
                email: email.clone(),
                password,
            })
            .await
            .doing("signing in")
            .map_err(|failure| match failure.kind {
                // Identity answers the same for an unknown address and a
                // wrong password, on purpose.
                Kind::NotSignedIn => Failure::not_signed_in(
                    "signing in: wrong e-mail address or password (gRPC status Unauthenticated)",
                ),
                _ => failure,
            })?;
        Session::from_login(&email, reply)
    };
    let path = context.session_path();
    session.save(&path)?;
    let until = session
        .refresh_expires_at
        .unwrap_or(session.access_expires_at)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(Outcome::text(
        format!(
            "signed in to {} as {} (session kept in {} until {until})",
            context.name,
            session.who,
            path.display()
        ),
        json!({"context": context.name, "who": session.who, "user_id": session.user_id, "until": until}),
    ))
}

pub async fn logout(context: &Context) -> Result<Outcome> {
    let path = context.session_path();
    let Some(session) = Session::load(&path)? else {
        return Ok(Outcome::text(
            format!("not signed in to {}", context.name),
            json!({"context": context.name, "signed_out": false}),
        ));
    };
    // Revoke first, then forget: a session only forgotten would stay usable
    // to whoever copied the file. A platform that cannot be reached does not
    // keep the operator signed in, though: the file goes either way.
    let mut revoked = true;
    if let Some(refresh_token) = &session.refresh_token {
        let mut identity = IdentityClient::new(context.channel(Service::Identity)?);
        if let Err(failure) = identity
            .logout(LogoutRequest {
                refresh_token: refresh_token.clone(),
            })
            .await
            .doing("revoking the session")
        {
            eprintln!("inspraak: {failure}; forgetting the session anyway");
            revoked = false;
        }
    }
    std::fs::remove_file(&path)
        .map_err(|e| Failure::other(format!("removing {}: {e}", path.display())))?;
    Ok(Outcome::text(
        format!("signed out of {} ({})", context.name, session.who),
        json!({"context": context.name, "who": session.who, "signed_out": true, "revoked": revoked}),
    ))
}

pub async fn whoami(api: &mut Api) -> Result<Outcome> {
    let Some(session) = api.tokens.session().cloned() else {
        return Err(Failure::not_signed_in(format!(
            "not signed in to {}: run `inspraak login`",
            api.context.name
        )));
    };
    if session.user_id.is_empty() {
        // A service: there is no profile to read.
        api.tokens.access_token().await?;
        return Ok(Outcome::record(
            vec![
                ("context", api.context.name.clone()),
                ("service", session.who.clone()),
            ],
            json!({"context": api.context.name, "service": session.who}),
        ));
    }
    let me = call!(
        api,
        identity.get_me(GetMeRequest {}),
        "reading your profile"
    )?;
    let roles = super::people::roles(&me);
    Ok(Outcome::record(
        vec![
            ("context", api.context.name.clone()),
            ("email", me.email.clone()),
            ("name", me.display_name.clone()),
            ("id", me.id.clone()),
            ("roles", roles.join(", ")),
        ],
        json!({"context": api.context.name, "email": me.email, "name": me.display_name, "id": me.id, "roles": roles}),
    ))
}

pub async fn set_password(context: &Context, args: SetPasswordArgs) -> Result<Outcome> {
    let password = secret("New password: ", args.password_stdin)?;
    if !args.password_stdin {
        let again = secret("Once more: ", false)?;
        if again != password {
            return Err(Failure::usage("the two passwords differ; nothing changed"));
        }
    }
    let mut identity = IdentityClient::new(context.channel(Service::Identity)?);
    identity
        .reset_password(ResetPasswordRequest {
            email: args.email.clone(),
            code: args.code,
            new_password: password,
        })
        .await
        .doing("setting the password")?;
    Ok(Outcome::text(
        format!(
            "password set for {}; sign in with `inspraak login --email {}`",
            args.email, args.email
        ),
        json!({"email": args.email, "password_set": true}),
    ))
}
