//! A database of its own for one test, dropped afterwards.

use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::db::{DatabaseSettings, connect};

pub struct TestDatabase {
    pub url: String,
    kind: Kind,
}

enum Kind {
    Postgres { admin_url: String, name: String },
    Sqlite { path: std::path::PathBuf },
}

impl TestDatabase {
    /// A fresh database on the test PostgreSQL server.
    pub async fn postgres() -> Self {
        let database = Self::postgres_pending();
        database.create().await;
        database
    }

    /// The database's name on the test PostgreSQL server (`None` for
    /// SQLite).
    pub fn postgres_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Postgres { name, .. } => Some(name),
            Kind::Sqlite { .. } => None,
        }
    }

    /// A name for a database on the test PostgreSQL server that does not
    /// exist until [`TestDatabase::create`] (a service started before its
    /// database).
    pub fn postgres_pending() -> Self {
        let admin_url = super::postgres_admin_url();
        let name = super::unique("inspraak_test_");
        // The admin URL's own database swapped for the new one; its query
        // (`?sslmode=disable`, say) kept.
        let (base, database) = admin_url
            .rsplit_once('/')
            .unwrap_or((admin_url.as_str(), ""));
        let query = database.find('?').map_or("", |at| &database[at..]);
        Self {
            url: format!("{base}/{name}{query}"),
            kind: Kind::Postgres { admin_url, name },
        }
    }

    /// Creates a PostgreSQL test database (SQLite files create themselves).
    pub async fn create(&self) {
        let Kind::Postgres { admin_url, name } = &self.kind else {
            return;
        };
        let admin = connect(&DatabaseSettings::new(admin_url.clone()))
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {admin_url}: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        let _ = admin.close().await;
    }

    /// A fresh SQLite file in the temporary directory.
    pub fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!("{}.db", super::unique("inspraak_test_")));
        Self {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            kind: Kind::Sqlite { path },
        }
    }

    pub async fn connect(&self) -> DatabaseConnection {
        connect(&DatabaseSettings::new(self.url.clone()))
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.url))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.kind, Kind::Postgres { .. })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.kind {
            Kind::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Kind::Postgres { admin_url, name } => {
                // Drop runs outside any async context we could borrow, so the
                // cleanup gets a small runtime of its own on its own thread.
                let admin_url = admin_url.clone();
                let name = name.clone();
                let cleanup = std::thread::spawn(move || {
                    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    runtime.block_on(async {
                        if let Ok(admin) = connect(&DatabaseSettings::new(admin_url)).await {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                ))
                                .await;
                            let _ = admin.close().await;
                        }
                    });
                });
                let _ = cleanup.join();
            }
        }
    }
}
