//! The VFS against real SQLite files: what one connection commits through it, another connection
//! (on the default VFS, as cardhook's pool) reads at once, through checkpoints and WAL restarts,
//! with far fewer writes reaching the file system than SQLite asked for.
#![allow(clippy::unwrap_used)] // test helpers: a failure is the test failing

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

fn coalescing(path: &Path) -> Connection {
    let vfs = wal_coalesce::register().unwrap();
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
    let conn = Connection::open_with_flags_and_vfs(path, flags, vfs).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    conn.execute_batch(wal_coalesce::CONNECTION_PRAGMAS)
        .unwrap();
    conn
}

/// A database `name` in `dir` with the table the tests fill, and a connection over the VFS.
fn new_database(dir: &tempfile::TempDir, name: &str) -> (PathBuf, Connection) {
    let path = dir.path().join(name);
    let writer = coalescing(&path);
    writer
        .execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
        .unwrap();
    (path, writer)
}

fn plain(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

fn count(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .unwrap()
}

/// Insert `rows` rows of `size` random bytes in one transaction; random keys dirty pages all over
/// the index, as cardhook's bindings do.
fn insert(conn: &Connection, rows: u32, size: u32) {
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
         INSERT INTO t (k, v) SELECT hex(randomblob(16)), randomblob({size}) FROM n; COMMIT;"
    ))
    .unwrap();
}

fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn every_commit_is_in_the_file_before_another_connection_looks() {
    let dir = tempfile::tempdir().unwrap();
    let (path, writer) = new_database(&dir, "a.db");
    let reader = plain(&path);
    let before = wal_coalesce::stats();
    for round in 1..=200 {
        insert(&writer, 20, 300);
        // The reader sees the commit the moment it returns: its frames were written before the
        // commit was published in the wal-index.
        assert_eq!(count(&reader), i64::from(round) * 20);
    }
    let after = wal_coalesce::stats();
    let (requested, issued) = (
        after.requested - before.requested,
        after.issued - before.issued,
    );
    // Two writes per frame asked; a run of up to ~30 frames per write issued. (Other tests in this
    // binary may run meanwhile: they coalesce too, so the ratio holds for the sum.)
    assert!(requested >= 200 * 2, "{requested} writes requested");
    assert!(
        issued * 4 < requested,
        "{issued} of {requested} writes issued"
    );
    assert_eq!(integrity(&reader), "ok");
}

#[test]
fn large_commits_checkpoints_and_wal_restarts_keep_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let (path, writer) = new_database(&dir, "b.db");
    let mut expected = 0;
    for round in 0..30 {
        // A few megabytes in one commit: many runs, each written out whole.
        insert(&writer, 1_000, 3_000);
        expected += 1_000;
        match round % 3 {
            0 => {
                let (busy, _, _): (i64, i64, i64) = writer
                    .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })
                    .unwrap();
                assert_eq!(busy, 0);
            }
            // The next commit starts the WAL over from its header.
            1 => writer
                .execute_batch("PRAGMA wal_checkpoint(RESTART)")
                .unwrap(),
            _ => {}
        }
        assert_eq!(count(&plain(&path)), expected);
    }
    drop(writer);
    let reopened = plain(&path);
    assert_eq!(count(&reopened), expected);
    assert_eq!(integrity(&reopened), "ok");
}

#[test]
fn a_commit_reaches_the_file_even_without_its_sync() {
    // `synchronous = NORMAL` breaks the contract (no sync at commit); the commit frame's header
    // still flushes the run, so readers never find a published frame missing from the file.
    let dir = tempfile::tempdir().unwrap();
    let (path, writer) = new_database(&dir, "c.db");
    writer.execute_batch("PRAGMA synchronous = NORMAL").unwrap();
    writer.execute_batch("CREATE TABLE pages (v BLOB)").unwrap();
    let reader = plain(&path);
    let mut expected = 0;
    // A 3 000-byte row fills a page of its own, so a commit of n rows writes about n + 2 frames:
    // every frame count up to ~100 comes by, among them the commits whose last page is the write
    // that overflows a run (the 31st frame; the run goes out, then that page starts the next).
    for rows in 1..=100 {
        writer
            .execute_batch(&format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
                 INSERT INTO pages SELECT randomblob(3000) FROM n"
            ))
            .unwrap();
        expected += rows;
        let stored: i64 = reader
            .query_row("SELECT count(*) FROM pages", [], |row| row.get(0))
            .unwrap();
        assert_eq!(stored, expected);
    }
    for round in 1..=50 {
        insert(&writer, 50, 500);
        assert_eq!(count(&reader), round * 50);
    }
    assert_eq!(integrity(&reader), "ok");
}

#[test]
fn commits_survive_a_writer_that_never_closes() {
    // As after a crash of the process: nothing is left in memory once a commit has returned.
    let dir = tempfile::tempdir().unwrap();
    let (path, writer) = new_database(&dir, "d.db");
    for _ in 0..10 {
        insert(&writer, 100, 200);
    }
    std::mem::forget(writer);
    let wal = std::fs::read(dir.path().join("d.db-wal")).unwrap();
    assert!(wal.len() > 100_000);
    // A copy of the files, as a new process would find them, recovers every commit from the WAL.
    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::write(dir.path().join("copy.db-wal"), wal).unwrap();
    let recovered = plain(&copy);
    assert_eq!(count(&recovered), 1_000);
    assert_eq!(integrity(&recovered), "ok");
}

#[test]
fn other_files_are_not_wrapped_and_errors_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = wal_coalesce::register().unwrap();
    // A missing directory: the default VFS's error, unchanged.
    let missing = Connection::open_with_flags_and_vfs(
        dir.path().join("no/such/dir.db"),
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        vfs,
    );
    assert!(missing.is_err());
    // A rollback-journal database (no WAL): only the default VFS's files, which work as always.
    let path = dir.path().join("e.db");
    let conn = Connection::open_with_flags_and_vfs(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        vfs,
    )
    .unwrap();
    conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
        .unwrap();
    insert(&conn, 100, 100);
    assert_eq!(count(&plain(&path)), 100);
}
