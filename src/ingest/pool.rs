//! The PostgreSQL writers: `database.writers` tasks, each taking the next batch from the shared
//! queue and storing it through sea-orm (`store::record`) in one transaction on the pool. Every
//! connection runs with `synchronous_commit = on` (`store::connect`): COMMIT returns once the
//! server has flushed its WAL.

use std::sync::Arc;

use sea_orm::{DatabaseConnection, TransactionTrait};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::{answer, next_batch, one_by_one, Ingest, IngestConfig, IngestError};
use crate::store::push::{Incoming, Stored};
use crate::store::record;

/// Start `writers` writers on `db`; the handle finishes when all have stopped.
pub fn spawn(
    db: DatabaseConnection,
    writers: usize,
    config: IngestConfig,
) -> (Ingest, JoinHandle<()>) {
    let (ingest, rx) = Ingest::with_queue(&config);
    // The writers take turns at the queue: one gathers a batch while the others commit theirs.
    let rx = Arc::new(Mutex::new(rx));
    let handles: Vec<JoinHandle<()>> = (0..writers.max(1))
        .map(|_| tokio::spawn(run(db.clone(), rx.clone(), config.clone())))
        .collect();
    let all = tokio::spawn(async move {
        futures_util::future::join_all(handles).await;
    });
    (ingest, all)
}

async fn run(
    db: DatabaseConnection,
    rx: Arc<Mutex<tokio::sync::mpsc::Receiver<super::QueuedPush>>>,
    config: IngestConfig,
) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            next_batch(&mut rx, config.batch_max).await
        };
        let Some(batch) = batch else { return };
        let started = std::time::Instant::now();
        let pushes: Vec<&Incoming> = batch.iter().map(|queued| &queued.push).collect();
        let mut results = vec![store(&db, &pushes, &config).await];
        if one_by_one(&results[0], pushes.len()) {
            results.clear();
            for push in &pushes {
                results.push(store(&db, std::slice::from_ref(push), &config).await);
            }
        }
        drop(pushes);
        answer(batch, results, started, &config);
    }
}

async fn store(
    db: &DatabaseConnection,
    pushes: &[&Incoming],
    config: &IngestConfig,
) -> Result<Stored, IngestError> {
    let txn = db.begin().await.map_err(crate::store::StoreError::from)?;
    let stored = record::record_batch(&txn, pushes, config.offset, config.jobs.as_ref()).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(stored)
}
