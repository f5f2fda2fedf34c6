//! The pile directory every backend must keep, for several nodes on one store.

use std::time::Duration;

use chrono::Utc;
use store::PileNode;

use super::{unique, Db};
use vocab::PileId;

pub async fn run(db: &Db) {
    pile_directory_moves_with_the_pile_and_lapses(db).await;
}

async fn pile_directory_moves_with_the_pile_and_lapses(db: &Db) {
    let pile = PileId(unique("pile"));
    let at = chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
    let node = |id: &str| PileNode {
        pile_id: pile.clone(),
        node_id: id.into(),
        http_addr: format!("http://{id}:8080"),
        updated_at: at,
    };
    let long = Duration::from_secs(60);
    assert_eq!(db.pile_node(&pile).await.unwrap(), None);
    db.set_pile_node(&node("a"), long).await.unwrap();
    assert_eq!(db.pile_node(&pile).await.unwrap(), Some(node("a")));
    let b = node("b");
    db.set_pile_node(&b, long).await.unwrap();
    assert_eq!(db.pile_node(&pile).await.unwrap(), Some(b.clone()), "the latest login wins");
    assert!(!db.remove_pile_node(&pile, "a").await.unwrap(), "a late disconnect on a leaves b's row");
    assert_eq!(db.pile_node(&pile).await.unwrap(), Some(b.clone()));
    assert!(db.remove_pile_node(&pile, "b").await.unwrap());
    assert_eq!(db.pile_node(&pile).await.unwrap(), None);
    assert!(!db.remove_pile_node(&pile, "b").await.unwrap());

    // A row not refreshed lapses (TTLs are whole seconds in CQL).
    db.set_pile_node(&node("c"), Duration::from_secs(1)).await.unwrap();
    assert!(db.pile_node(&pile).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(db.pile_node(&pile).await.unwrap(), None);
}
