//! The durable ceiling for `cardhook-lab hello --durable`: every body is written to a file and made
//! durable (`fdatasync`) before it is answered, the bodies that arrive together sharing one sync
//! (group commit). It is the least any receiver that acknowledges only what is on disk must do, with
//! no database: the upper bound of the full path on this machine's disk (docs/PERFORMANCE.md).
//!
//! The file is a ring written in full once at start, so later writes overwrite allocated blocks and
//! a sync never waits for the file system to record a new size or extent — as SQLite's WAL once it
//! restarts from its beginning.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use actix_web::web::Bytes;
use tokio::sync::{mpsc, oneshot};

/// How many bytes of bodies one write and sync may take at most.
const MAX_BATCH_BYTES: usize = 1 << 20;

struct Entry {
    body: Bytes,
    synced: oneshot::Sender<()>,
}

/// The handle the HTTP workers share; the file is owned by one thread.
#[derive(Clone)]
pub struct DurableLog {
    pending: mpsc::UnboundedSender<Entry>,
}

#[derive(Debug, thiserror::Error)]
#[error("the durable log stopped (its thread logged why)")]
pub struct LogStopped;

impl DurableLog {
    /// Creates (or overwrites) `path` as a ring of `ring_bytes` zeros, synced, and starts its thread.
    pub fn open(path: &Path, ring_bytes: u64) -> io::Result<Self> {
        let file = File::create(path)?;
        let zeros = vec![0u8; MAX_BATCH_BYTES];
        let mut offset = 0;
        while offset < ring_bytes {
            let len = (ring_bytes - offset).min(zeros.len() as u64);
            file.write_all_at(&zeros[..len as usize], offset)?;
            offset += len;
        }
        file.sync_all()?;
        let (pending, received) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("durable-log".into())
            .spawn(move || {
                if let Err(error) = write_batches(&file, ring_bytes, received) {
                    tracing::error!(%error, "the durable log failed; requests now get 503");
                }
            })?;
        Ok(Self { pending })
    }

    /// Returns once `body` is on disk.
    pub async fn append(&self, body: Bytes) -> Result<(), LogStopped> {
        let (synced, on_disk) = oneshot::channel();
        self.pending
            .send(Entry { body, synced })
            .map_err(|_| LogStopped)?;
        on_disk.await.map_err(|_| LogStopped)
    }
}

/// Takes whatever is waiting (up to `MAX_BATCH_BYTES`), writes it in one `pwrite` at the ring's
/// current offset (back to the start when it would not fit), syncs, then answers every body in it.
fn write_batches(
    file: &File,
    ring_bytes: u64,
    mut received: mpsc::UnboundedReceiver<Entry>,
) -> io::Result<()> {
    let mut offset = 0u64;
    let mut batch = Vec::new();
    let mut waiting = Vec::new();
    while let Some(first) = received.blocking_recv() {
        batch.clear();
        batch.extend_from_slice(&first.body);
        waiting.push(first.synced);
        while batch.len() < MAX_BATCH_BYTES {
            let Ok(next) = received.try_recv() else { break };
            batch.extend_from_slice(&next.body);
            waiting.push(next.synced);
        }
        if offset + batch.len() as u64 > ring_bytes {
            offset = 0;
        }
        file.write_all_at(&batch, offset)?;
        offset += batch.len() as u64;
        file.sync_data()?;
        for synced in waiting.drain(..) {
            // A client that went away no longer waits for its answer.
            let _ = synced.send(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(path: &Path) -> String {
        String::from_utf8_lossy(&std::fs::read(path).expect("read the log")).into_owned()
    }

    #[tokio::test]
    async fn every_body_answered_is_in_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        let log = DurableLog::open(&path, 1 << 16).expect("open");
        let appends = (0..50).map(|n| {
            let log = log.clone();
            async move { log.append(Bytes::from(format!("<body {n}/>"))).await }
        });
        for answer in futures_util::future::join_all(appends).await {
            answer.expect("appended");
        }
        let file = contents(&path);
        assert_eq!(std::fs::metadata(&path).expect("metadata").len(), 1 << 16);
        for n in 0..50 {
            assert_eq!(file.matches(&format!("<body {n}/>")).count(), 1, "body {n}");
        }
    }

    #[tokio::test]
    async fn a_body_that_does_not_fit_starts_the_ring_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        let log = DurableLog::open(&path, 64).expect("open");
        for body in ["a".repeat(40), "b".repeat(20), "c".repeat(10)] {
            log.append(Bytes::from(body)).await.expect("appended");
        }
        // c would end at 70, past the ring's 64 bytes: it is written at the start again.
        let expected = format!(
            "{}{}{}{}",
            "c".repeat(10),
            "a".repeat(30),
            "b".repeat(20),
            "\0".repeat(4)
        );
        assert_eq!(contents(&path), expected);
    }
}
