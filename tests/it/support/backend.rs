//! Both storage backends for storage-critical tests: a fresh SQLite file, or a fresh PostgreSQL
//! database `t_<random>` on the server at 127.0.0.1:5432 (trust auth). If PostgreSQL is meant to be
//! there and is not, the test fails with a message saying so; it never skips.

use rand::Rng;
use sea_orm::{ConnectionTrait, Database};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BOTH: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// The server's administrative URL (`CARDHOOK_TEST_POSTGRES` overrides it).
fn admin_url() -> String {
    std::env::var("CARDHOOK_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database that exists for one test; `drop_database` removes a PostgreSQL one.
pub struct TestDatabase {
    pub url: String,
    pg_name: Option<String>,
}

impl TestDatabase {
    pub async fn create(backend: Backend, dir: &std::path::Path) -> Self {
        match backend {
            Backend::Sqlite => {
                let name: u64 = rand::thread_rng().gen();
                Self {
                    url: format!("sqlite://{}/t_{name:x}.db?mode=rwc", dir.display()),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin = Database::connect(admin_url()).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {} is required by the storage tests (.ci/run starts it): {e}", admin_url())
                });
                let name = format!("t_{:016x}", rand::thread_rng().gen::<u64>());
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("CREATE DATABASE");
                let base = admin_url();
                let url = match base.rfind('/') {
                    Some(slash) => format!("{}/{name}", &base[..slash]),
                    None => panic!("bad PostgreSQL URL {base}"),
                };
                Self {
                    url,
                    pg_name: Some(name),
                }
            }
        }
    }

    pub async fn drop_database(self) {
        if let Some(name) = self.pg_name {
            let admin = Database::connect(admin_url()).await.expect("PostgreSQL");
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .expect("DROP DATABASE");
        }
    }
}
