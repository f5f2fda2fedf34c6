//! Station leases every backend must keep, so one node at a time manages a
//! station's power.

use std::time::Duration;

use chrono::Utc;

use super::Db;

pub async fn run(db: &Db) {
    a_station_lease_has_one_holder_and_a_rising_token(db).await;
}

async fn a_station_lease_has_one_holder_and_a_rising_token(db: &Db) {
    // No station row is needed; an id of its own keeps reruns on one keyspace apart.
    let station = 1_000_000_000_000 + Utc::now().timestamp_micros() % 1_000_000_000_000;
    let (long, short) = (Duration::from_secs(60), Duration::from_millis(1_500));
    assert_eq!(db.lease(station).await.unwrap(), None);

    // Two nodes contend: the first takes it, the second is told who holds it.
    let a = db.acquire_lease(station, "a", "http://a", long).await.unwrap();
    assert_eq!((a.holder.as_str(), a.http_addr.as_str(), a.token), ("a", "http://a", 1));
    assert!(a.held_by("a", Utc::now()));
    let seen = db.acquire_lease(station, "b", "http://b", long).await.unwrap();
    assert_eq!(seen, a, "b is refused and shown a's lease");
    assert!(!db.renew_lease(station, "b", a.token, long).await.unwrap(), "only the holder renews");
    // The holder asking again keeps its token.
    let again = db.acquire_lease(station, "a", "http://a", short).await.unwrap();
    assert_eq!((again.holder.as_str(), again.token), ("a", 1));

    // Lapsed: b takes it with a higher token, and a's renewal fails.
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    assert!(!db.lease(station).await.unwrap().unwrap().held_by("a", Utc::now()));
    let b = db.acquire_lease(station, "b", "http://b", short).await.unwrap();
    assert_eq!((b.holder.as_str(), b.http_addr.as_str(), b.token), ("b", "http://b", 2));
    assert!(!db.renew_lease(station, "a", 1, long).await.unwrap(), "a stale holder cannot renew");
    assert!(db.renew_lease(station, "b", 2, long).await.unwrap());
    assert_eq!(db.acquire_lease(station, "a", "http://a", long).await.unwrap().holder, "b");

    // Released: the next node need not wait, and the token rises again.
    assert!(!db.release_lease(station, "b", 1).await.unwrap(), "a stale token releases nothing");
    assert!(db.release_lease(station, "b", 2).await.unwrap());
    assert!(!db.release_lease(station, "b", 2).await.unwrap());
    let a = db.acquire_lease(station, "a", "http://a", long).await.unwrap();
    assert_eq!((a.holder.as_str(), a.token), ("a", 3));
    assert_eq!(db.lease(station).await.unwrap(), Some(a));

    // Many nodes racing for one free lease: exactly one wins.
    let other = station + 1;
    let races = (0..6).map(|i| {
        let db = db.clone();
        async move { db.acquire_lease(other, &format!("n{i}"), "http://n", long).await.unwrap() }
    });
    let won = futures::future::join_all(races).await;
    let holder = &won[0].holder;
    assert!(won.iter().all(|l| &l.holder == holder && l.token == 1), "{won:?}");

    // Read together, the leases are each as read alone; a station never
    // leased has none.
    let mut both = db.leases(&[other, station + 2, station]).await.unwrap();
    both.sort_by_key(|l| l.station_id);
    let alone = [db.lease(station).await.unwrap().unwrap(), db.lease(other).await.unwrap().unwrap()];
    assert_eq!(both, alone);
    assert_eq!(db.leases(&[]).await.unwrap(), vec![]);
}
