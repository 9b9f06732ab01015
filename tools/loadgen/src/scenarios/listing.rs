//! Listing inputs through the real gRPC server on PostgreSQL: the first and
//! the thousandth page of the default listing on a project with a million
//! inputs, and the first page on a project with a thousand (the yardstick
//! the thousandth page is held to).

use std::sync::Arc;
use std::time::Instant;

use inspraak_contributions::{ContributionsService, ContributionsSettings};
use inspraak_host::testing::{Shared, TestServer};
use inspraak_kit::testing::TestDatabase;
use inspraak_proto::contributions::v1 as proto;
use inspraak_proto::contributions::v1::contributions_client::ContributionsClient;
use tonic::transport::Channel;

use crate::drive::{Operation, operation, status};
use crate::scenarios::writes::seed;
use crate::servers::{ServerRuntime, connect};

/// Inputs in the small project.
pub const SMALL: u64 = 1_000;

pub struct ListingSetup {
    pub database: TestDatabase,
    channel: Channel,
    large: String,
    small: String,
    /// The thousandth page's token on the large project.
    thousandth: String,
    server: TestServer,
    _shared: Shared,
}

async fn page(
    channel: &Channel,
    project: &str,
    token: &str,
) -> Result<proto::ListInputsResponse, tonic::Status> {
    ContributionsClient::new(channel.clone())
        .list_inputs(proto::ListInputsRequest {
            project_id: project.to_owned(),
            page_size: 20,
            page_token: token.to_owned(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

impl ListingSetup {
    pub async fn start(runtime: &ServerRuntime, inputs: u64) -> Result<Self, String> {
        let (server, database, shared) = runtime
            .run(async {
                let database = TestDatabase::postgres().await;
                let shared = Shared::new().await;
                let server = TestServer::start(
                    ContributionsService::new(ContributionsSettings::defaults()),
                    &database,
                    &shared,
                )
                .await;
                (server, database, shared)
            })
            .await?;
        let db = &server.running.context.db;
        let (large, small) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let seeding = Instant::now();
        seed(db, large, uuid::Uuid::now_v7(), 1, inputs).await?;
        seed(db, small, uuid::Uuid::now_v7(), inputs + 1, SMALL).await?;
        println!(
            "seeded {inputs} + {SMALL} inputs in {:.1} s",
            seeding.elapsed().as_secs_f64()
        );
        let channel = connect(server.running.addr).await?;
        let large = large.to_string();
        // The thousandth page's token, walked to honestly.
        let mut token = String::new();
        for n in 1..1000 {
            token = page(&channel, &large, &token)
                .await
                .map_err(|e| format!("walking to page 1000, at page {n}: {e}"))?
                .next_page_token;
        }
        Ok(Self {
            database,
            channel,
            large,
            small: small.to_string(),
            thousandth: token,
            server,
            _shared: shared,
        })
    }

    fn operation(&self, project: &str, token: &str) -> Arc<impl Operation> {
        let (channel, project, token) =
            (self.channel.clone(), project.to_owned(), token.to_owned());
        operation(move |_, _| {
            let (channel, project, token) = (channel.clone(), project.clone(), token.clone());
            async move {
                match page(&channel, &project, &token).await {
                    Ok(listed) if listed.inputs.len() == 20 => Ok(()),
                    Ok(_) => Err("short_page".to_owned()),
                    Err(e) => Err(status(&e)),
                }
            }
        })
    }

    /// The first page of the project with a million inputs.
    pub fn first_page(&self) -> Arc<impl Operation> {
        self.operation(&self.large, "")
    }

    /// Its thousandth page.
    pub fn page_1000(&self) -> Arc<impl Operation> {
        self.operation(&self.large, &self.thousandth)
    }

    /// The first page of the project with a thousand inputs.
    pub fn small_first_page(&self) -> Arc<impl Operation> {
        self.operation(&self.small, "")
    }

    pub async fn stop(self, runtime: &ServerRuntime) {
        let server = self.server;
        let _ = runtime.run(server.stop()).await;
    }
}
