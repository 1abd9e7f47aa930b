//! The SQLite file the pool has open. Open connections keep reading and writing an unlinked file,
//! so a file deleted — or deleted and replaced, say by a restored backup — underneath the process
//! would silently swallow every commit until the next start. The ingest writer and readiness look
//! at the file itself: the same inode as at start-up, readable and writable.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::DatabaseSettings;

#[derive(Debug, Clone)]
pub struct SqliteFile {
    path: PathBuf,
    inode: u64,
}

impl SqliteFile {
    /// The file at `path` as it is now (after connecting, so it exists).
    pub fn at(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            inode: std::fs::metadata(path)?.ino(),
        })
    }

    /// The SQLite file of `database.url`, if the database is one (not PostgreSQL, not in memory).
    pub fn of_database(settings: &DatabaseSettings) -> Option<Self> {
        use secrecy::ExposeSecret;
        let url = settings.url.expose_secret();
        let path = url.strip_prefix("sqlite://")?.split('?').next()?;
        if path.is_empty() || path.starts_with(':') {
            return None;
        }
        Self::at(Path::new(path)).ok()
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why commits cannot be trusted to reach the file, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        let shown = self.path.display();
        let meta = std::fs::metadata(&self.path)
            .map_err(|_| format!("database file {shown} is missing; restore it and restart"))?;
        if meta.ino() != self.inode {
            return Err(format!(
                "database file {shown} was replaced while open; restart cardhook to use the new one"
            ));
        }
        if !meta.is_file() || meta.permissions().mode() & 0o600 != 0o600 {
            return Err(format!(
                "database file {shown} is not a readable and writable file"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_or_replaced_file_fails_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        std::fs::write(&path, b"x").unwrap();
        let file = SqliteFile::at(&path).unwrap();
        assert_eq!(file.check(), Ok(()));
        std::fs::rename(&path, dir.path().join("old.db")).unwrap();
        assert!(file.check().unwrap_err().contains("missing"));
        std::fs::write(&path, b"restored").unwrap();
        assert!(file.check().unwrap_err().contains("replaced"));
    }
}
