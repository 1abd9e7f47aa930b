//! The SQLite database file, resolved once at start (symlinks followed), and checked afterwards.
//!
//! SQLite follows a symlinked path itself and keeps its `-wal` and `-shm` beside the target;
//! cardhook opens the writer's connection on the resolved path and never creates, opens or syncs
//! the `-wal`/`-shm` files itself. Open connections keep reading and writing an unlinked file, so
//! a file deleted — or deleted and replaced, say by a restored backup — underneath the process would
//! silently swallow every commit until the next start: the writer and readiness look at the file
//! itself (the same inode as at start, readable and writable).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct DatabaseFile {
    path: PathBuf,
    inode: u64,
}

impl DatabaseFile {
    /// The file at `path` as it is now, its symlinks resolved.
    pub fn at(path: &Path) -> std::io::Result<Self> {
        let path = std::fs::canonicalize(path)?;
        Ok(Self {
            inode: std::fs::metadata(&path)?.ino(),
            path,
        })
    }

    /// The path of the SQLite file `url` names, if it names one (not PostgreSQL, not in memory).
    pub fn path_in_url(url: &str) -> Option<&Path> {
        let path = url.strip_prefix("sqlite://")?.split('?').next()?;
        (!path.is_empty() && !path.starts_with(':')).then(|| Path::new(path))
    }

    /// Where the file is (symlinks resolved).
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
        let file = DatabaseFile::at(&path).unwrap();
        assert_eq!(file.check(), Ok(()));
        std::fs::rename(&path, dir.path().join("old.db")).unwrap();
        assert!(file.check().unwrap_err().contains("missing"));
        std::fs::write(&path, b"restored").unwrap();
        assert!(file.check().unwrap_err().contains("replaced"));
    }

    #[test]
    fn a_symlinked_path_resolves_to_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("volume");
        std::fs::create_dir(&volume).unwrap();
        std::fs::write(volume.join("real.db"), b"x").unwrap();
        let link = dir.path().join("cardhook.db");
        std::os::unix::fs::symlink(volume.join("real.db"), &link).unwrap();
        let file = DatabaseFile::at(&link).unwrap();
        assert_eq!(
            file.path(),
            std::fs::canonicalize(volume.join("real.db")).unwrap()
        );
    }

    #[test]
    fn only_sqlite_files_have_a_path() {
        let path = DatabaseFile::path_in_url("sqlite:///var/lib/c.db?mode=rwc");
        assert_eq!(path, Some(Path::new("/var/lib/c.db")));
        assert_eq!(DatabaseFile::path_in_url("sqlite::memory:"), None);
        assert_eq!(DatabaseFile::path_in_url("postgres://u@h/db"), None);
    }
}
