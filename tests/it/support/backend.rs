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

/// A PostgreSQL server of a test's own (initdb in a temporary directory, run as the `postgres`
/// user on a free port), for settings the shared server must not change; stopped on drop.
pub struct ScratchPostgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
    server: std::process::Child,
}

impl ScratchPostgres {
    /// Start it with `settings` (`-c name=value` pairs).
    pub fn start(settings: &[&str]) -> Self {
        use std::os::unix::fs::PermissionsExt;
        use std::process::Command;
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| versions.flatten().map(|v| v.path().join("bin")).max())
            .expect("PostgreSQL's server binaries under /usr/lib/postgresql (Debian's postgresql)");
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let data = dir.path().join("data");
        let as_postgres = |program: &str| {
            let mut command = Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(bin.join(program));
            command
        };
        let initdb = as_postgres("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            initdb.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let server = as_postgres("postgres")
            .arg("-D")
            .arg(&data)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-k",
            ])
            .arg(dir.path())
            .args(settings)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let ready = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(ready, "the scratch PostgreSQL did not start");
        Self {
            dir,
            bin,
            port,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        // runuser waits for the server it started; pg_ctl stops the server itself.
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["stop", "-m", "immediate"])
            .output();
        let _ = self.server.wait();
    }
}

/// A new, empty database of `backend`, connected with the default settings.
pub async fn fresh_database(
    backend: Backend,
    dir: &std::path::Path,
) -> (TestDatabase, sea_orm::DatabaseConnection) {
    let test_db = TestDatabase::create(backend, dir).await;
    let mut settings = cardhook::config::Settings::defaults().unwrap();
    settings.database.url = secrecy::SecretString::from(test_db.url.clone());
    let db = cardhook::store::connect(&settings.database).await.unwrap();
    (test_db, db)
}
