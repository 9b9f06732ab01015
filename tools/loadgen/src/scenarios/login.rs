//! Signing in: identity on PostgreSQL checks an argon2id hash per login (on
//! its blocking pool, a permit per core), so logins are bound by the CPU,
//! not by the server; measured on their own.

use std::sync::Arc;

use inspraak_host::testing::{Shared, TestServer};
use inspraak_identity::{IdentityService, IdentitySettings};
use inspraak_kit::testing::TestDatabase;
use inspraak_proto::identity::v1 as proto;
use inspraak_proto::identity::v1::identity_client::IdentityClient;
use tonic::transport::Channel;

use crate::drive::{Operation, operation, status};
use crate::servers::{ServerRuntime, connect};

/// Accounts the logins go round.
const ACCOUNTS: usize = 20;

const PASSWORD: &str = "lange-zinnen-zijn-sterke-wachtwoorden";

pub struct LoginSetup {
    pub database: TestDatabase,
    channel: Channel,
    emails: Arc<Vec<String>>,
    server: TestServer,
    _shared: Shared,
}

impl LoginSetup {
    pub async fn start(runtime: &ServerRuntime) -> Result<Self, String> {
        let (server, database, shared) = runtime
            .run(async {
                let database = TestDatabase::postgres().await;
                let shared = Shared::new().await;
                let server = TestServer::start(
                    IdentityService::new(IdentitySettings::defaults()),
                    &database,
                    &shared,
                )
                .await;
                (server, database, shared)
            })
            .await?;
        let channel = connect(server.running.addr).await?;
        let mut client = IdentityClient::new(channel.clone());
        let mut emails = Vec::with_capacity(ACCOUNTS);
        for n in 0..ACCOUNTS {
            let email = format!(
                "{}@gent.be",
                inspraak_kit::testing::unique(&format!("bench{n}-"))
            );
            client
                .register(proto::RegisterRequest {
                    email: email.clone(),
                    password: PASSWORD.to_owned(),
                    display_name: format!("Bewoner {n}"),
                    locale: "nl".to_owned(),
                    fields: Default::default(),
                })
                .await
                .map_err(|e| format!("registering a benchmark account: {e}"))?;
            emails.push(email);
        }
        Ok(Self {
            database,
            channel,
            emails: Arc::new(emails),
            server,
            _shared: shared,
        })
    }

    /// A login with the right password, the accounts in turn.
    pub fn operation(&self) -> Arc<impl Operation> {
        let (channel, emails) = (self.channel.clone(), self.emails.clone());
        operation(move |seq, _| {
            let mut client = IdentityClient::new(channel.clone());
            let email = emails[usize::try_from(seq).unwrap_or(0) % emails.len()].clone();
            async move {
                client
                    .login(proto::LoginRequest {
                        email,
                        password: PASSWORD.to_owned(),
                    })
                    .await
                    .map(|_| ())
                    .map_err(|e| status(&e))
            }
        })
    }

    pub async fn stop(self, runtime: &ServerRuntime) {
        let server = self.server;
        let _ = runtime.run(server.stop()).await;
    }
}
