//! A node's station lease reads, grouped.
//!
//! Every node following a station reads its lease each `lease_renew`: a
//! node running ten thousand stations would make ten thousand store reads a
//! second, each its own query or quorum read and its own task. So the reads
//! go through one reader: those asked while a read is in flight go
//! together in the next (`Leases::leases`), as the SQLite writer groups
//! commits, which adds no wait when the store is idle and folds a busy
//! second's reads into a few calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use store::{Lease, Store, StoreError};
use tokio::sync::{mpsc, oneshot};
use vocab::StationId;

type Answer = oneshot::Sender<Result<Option<Lease>, StoreError>>;

/// Reads in one store call at the most.
const MOST: usize = 500;

pub struct LeaseReads {
    store: Arc<dyn Store>,
    tx: mpsc::UnboundedSender<(StationId, Answer)>,
    /// Taken by the reader task, started on the first read.
    rx: Mutex<Option<mpsc::UnboundedReceiver<(StationId, Answer)>>>,
}

impl LeaseReads {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        LeaseReads { store, tx, rx: Mutex::new(Some(rx)) }
    }

    /// The station's lease, read with the others asked meanwhile.
    pub async fn read(&self, station: StationId) -> Result<Option<Lease>, StoreError> {
        if let Some(rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() {
            actix_rt::spawn(reader(self.store.clone(), rx));
        }
        let (answer, answered) = oneshot::channel();
        let gone = || StoreError::Backend("the lease reader stopped".into());
        self.tx.send((station, answer)).map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

async fn reader(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<(StationId, Answer)>) {
    while let Some(first) = rx.recv().await {
        let mut asked = vec![first];
        while asked.len() < MOST {
            match rx.try_recv() {
                Ok(next) => asked.push(next),
                Err(_) => break,
            }
        }
        let ids: Vec<StationId> = asked.iter().map(|(id, _)| *id).collect();
        match store.leases(&ids).await {
            Ok(leases) => {
                let by_station: HashMap<StationId, Lease> =
                    leases.into_iter().map(|l| (l.station_id, l)).collect();
                for (id, answer) in asked {
                    let _ = answer.send(Ok(by_station.get(&id).cloned()));
                }
            }
            Err(e) => {
                for (_, answer) in asked {
                    let _ = answer.send(Err(e.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use store::{SqliteConfig, SqliteStore};

    #[actix_rt::test]
    async fn reads_asked_together_each_get_their_own_stations_lease() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(SqliteConfig::new(dir.path().join("t.db"))).unwrap();
        let store: Arc<dyn Store> = Arc::new(sqlite);
        let ttl = Duration::from_secs(60);
        for station in 1..=40 {
            let node = format!("n{}", station % 3);
            store.acquire_lease(station, &node, &format!("http://{node}"), ttl).await.unwrap();
        }
        let reads = LeaseReads::new(store);
        // Station 41 was never leased.
        let asked = (1..=41).rev().map(|station| reads.read(station));
        let got = futures::future::join_all(asked).await;
        for (station, lease) in (1..=41).rev().zip(got) {
            let lease = lease.unwrap();
            match station {
                41 => assert_eq!(lease, None),
                s => assert_eq!(lease.map(|l| (l.station_id, l.holder)), Some((s, format!("n{}", s % 3)))),
            }
        }
    }
}
