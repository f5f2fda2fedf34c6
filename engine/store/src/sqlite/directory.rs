//! The pile directory (`store::directory`) in SQLite, for nodes sharing one
//! database file, and the cluster's live nodes. A row past `expires_at`
//! reads as absent.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension};

use super::codec::{micros, time};
use super::SqliteStore;
use crate::{ClusterNode, Directory, PileNode, Result};
use vocab::PileId;

pub(super) fn set(c: &Connection, node: &PileNode, ttl: Duration) -> Result<()> {
    let expires = micros(node.updated_at) + i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX / 2);
    c.prepare_cached(
        "INSERT INTO pile_nodes (pile_id, node_id, http_addr, updated_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (pile_id) DO UPDATE SET node_id = excluded.node_id, http_addr = excluded.http_addr,
             updated_at = excluded.updated_at, expires_at = excluded.expires_at",
    )?
    .execute(params![node.pile_id.as_str(), node.node_id, node.http_addr, micros(node.updated_at), expires])?;
    Ok(())
}

pub(super) fn get(c: &Connection, pile: &PileId) -> rusqlite::Result<Option<PileNode>> {
    c.prepare_cached(
        "SELECT node_id, http_addr, updated_at FROM pile_nodes WHERE pile_id = ?1 AND expires_at > ?2",
    )?
    .query_row(params![pile.as_str(), micros(Utc::now())], |r| {
        Ok(PileNode {
            pile_id: pile.clone(),
            node_id: r.get(0)?,
            http_addr: r.get(1)?,
            updated_at: time(r, 2)?,
        })
    })
    .optional()
}

pub(super) fn remove(c: &Connection, pile: &PileId, node_id: &str) -> Result<bool> {
    let n = c
        .prepare_cached("DELETE FROM pile_nodes WHERE pile_id = ?1 AND node_id = ?2")?
        .execute(params![pile.as_str(), node_id])?;
    Ok(n == 1)
}

pub(super) fn announce(c: &Connection, node: &ClusterNode, ttl: Duration) -> Result<()> {
    let expires = micros(node.updated_at) + i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX / 2);
    c.prepare_cached(
        "INSERT INTO cluster_nodes (node_id, http_addr, updated_at, expires_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (node_id) DO UPDATE SET http_addr = excluded.http_addr,
             updated_at = excluded.updated_at, expires_at = excluded.expires_at",
    )?
    .execute(params![node.node_id, node.http_addr, micros(node.updated_at), expires])?;
    Ok(())
}

pub(super) fn live_nodes(c: &Connection) -> rusqlite::Result<Vec<ClusterNode>> {
    let mut stmt = c.prepare_cached(
        "SELECT node_id, http_addr, updated_at FROM cluster_nodes WHERE expires_at > ?1 ORDER BY node_id",
    )?;
    let rows = stmt.query_map(params![micros(Utc::now())], |r| {
        Ok(ClusterNode { node_id: r.get(0)?, http_addr: r.get(1)?, updated_at: time(r, 2)? })
    })?;
    rows.collect()
}

#[async_trait]
impl Directory for SqliteStore {
    async fn set_pile_node(&self, node: &PileNode, ttl: Duration) -> Result<()> {
        let node = node.clone();
        self.writer.submit(move |c| set(c, &node, ttl)).await
    }

    async fn pile_node(&self, pile: &PileId) -> Result<Option<PileNode>> {
        let pile = pile.clone();
        self.readers.read(move |c| get(c, &pile)).await
    }

    async fn remove_pile_node(&self, pile: &PileId, node_id: &str) -> Result<bool> {
        let (pile, node_id) = (pile.clone(), node_id.to_owned());
        self.writer.submit(move |c| remove(c, &pile, &node_id)).await
    }

    async fn announce_node(&self, node: &ClusterNode, ttl: Duration) -> Result<()> {
        let node = node.clone();
        self.writer.submit(move |c| announce(c, &node, ttl)).await
    }

    async fn nodes(&self) -> Result<Vec<ClusterNode>> {
        self.readers.read(live_nodes).await
    }
}
