//! The pile directory every backend must keep, for several nodes on one store.

use std::time::Duration;

use chrono::Utc;
use store::{ClusterNode, PileNode};

use super::{unique, Db};
use vocab::PileId;

pub async fn run(db: &Db) {
    pile_directory_moves_with_the_pile_and_lapses(db).await;
    nodes_are_listed_while_they_announce_themselves(db).await;
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

async fn nodes_are_listed_while_they_announce_themselves(db: &Db) {
    // Other tests share the store: only this test's nodes are looked at.
    let prefix = unique("node");
    let ours = |all: Vec<ClusterNode>| -> Vec<ClusterNode> {
        all.into_iter().filter(|n| n.node_id.starts_with(&prefix)).collect()
    };
    let at = chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
    let node = |id: &str, port: u16| ClusterNode {
        node_id: format!("{prefix}-{id}"),
        http_addr: format!("http://{id}:{port}"),
        updated_at: at,
    };
    assert_eq!(ours(db.nodes().await.unwrap()), vec![]);
    let long = Duration::from_secs(60);
    db.announce_node(&node("a", 8080), long).await.unwrap();
    db.announce_node(&node("b", 8080), long).await.unwrap();
    let mut listed = ours(db.nodes().await.unwrap());
    listed.sort_by(|x, y| x.node_id.cmp(&y.node_id));
    assert_eq!(listed, vec![node("a", 8080), node("b", 8080)]);

    // Announcing again replaces the node's row rather than adding one.
    db.announce_node(&node("a", 9090), long).await.unwrap();
    let mut listed = ours(db.nodes().await.unwrap());
    listed.sort_by(|x, y| x.node_id.cmp(&y.node_id));
    assert_eq!(listed, vec![node("a", 9090), node("b", 8080)]);

    // A node that stops announcing lapses (TTLs are whole seconds in CQL).
    db.announce_node(&node("c", 8080), Duration::from_secs(1)).await.unwrap();
    assert!(ours(db.nodes().await.unwrap()).contains(&node("c", 8080)));
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let listed = ours(db.nodes().await.unwrap());
    assert!(!listed.iter().any(|n| n.node_id.ends_with("-c")), "{listed:?}");
    assert_eq!(listed.len(), 2);
}
