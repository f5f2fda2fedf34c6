//! The pile directory on CQL: the `pile_nodes` table, a plain write with a
//! TTL at login and on each refresh (the latest login wins), a read, and one
//! lightweight transaction per clean disconnect (`DELETE ... IF node_id = ?`)
//! so a late delete never removes the row of a node the pile moved to.
//! And the `cluster_nodes` table: each node's announcement, a plain write
//! with a TTL, all in one partition read whole.

use std::time::Duration;

use async_trait::async_trait;
use scylla::statement::prepared::PreparedStatement;

use super::codec::micros;
use super::statements::{Class, Preparer};
use super::{Db, ScyllaStore};
use crate::{ClusterNode, Directory, PileNode, Result};
use vocab::PileId;

pub(super) struct DirectoryStatements {
    node_set: PreparedStatement,
    node_get: PreparedStatement,
    node_remove: PreparedStatement,
    member_set: PreparedStatement,
    member_list: PreparedStatement,
}

impl DirectoryStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> Result<Self> {
        let node_set = p
            .prepare(
                Class::Money,
                true,
                "INSERT INTO pile_nodes (pile_id, node_id, http_addr, updated_at) VALUES (?, ?, ?, ?) USING TTL ?",
            )
            .await?;
        let node_get = p
            .prepare(
                Class::Money,
                true,
                "SELECT node_id, http_addr, updated_at FROM pile_nodes WHERE pile_id = ?",
            )
            .await?;
        let node_remove =
            p.prepare(Class::Lwt, false, "DELETE FROM pile_nodes WHERE pile_id = ? IF node_id = ?").await?;
        let member_set = p
            .prepare(
                Class::Money,
                true,
                "INSERT INTO cluster_nodes (bucket, node_id, http_addr, updated_at) VALUES (0, ?, ?, ?) USING TTL ?",
            )
            .await?;
        let member_list = p
            .prepare(
                Class::Money,
                true,
                "SELECT node_id, http_addr, updated_at FROM cluster_nodes WHERE bucket = 0",
            )
            .await?;
        Ok(DirectoryStatements { node_set, node_get, node_remove, member_set, member_list })
    }
}

impl Db {
    pub(super) async fn set_pile_node(&self, n: &PileNode, ttl: Duration) -> Result<()> {
        let ttl = i32::try_from(ttl.as_secs().max(1)).unwrap_or(i32::MAX);
        let values =
            (n.pile_id.as_str(), n.node_id.as_str(), n.http_addr.as_str(), micros(n.updated_at), ttl);
        self.cql.write("recording a pile's node", &self.directory.node_set, values).await
    }

    pub(super) async fn pile_node(&self, pile: &PileId) -> Result<Option<PileNode>> {
        let row = self
            .cql
            .row::<(String, String, i64), _>(
                "reading a pile's node",
                &self.directory.node_get,
                (pile.as_str(),),
            )
            .await?;
        row.map(|(node_id, http_addr, at)| {
            Ok(PileNode {
                pile_id: pile.clone(),
                node_id,
                http_addr,
                updated_at: super::codec::time("updated_at", at)?,
            })
        })
        .transpose()
    }

    pub(super) async fn remove_pile_node(&self, pile: &PileId, node_id: &str) -> Result<bool> {
        let lwt =
            self.cql.lwt("removing a pile's node", &self.directory.node_remove, (pile.as_str(), node_id));
        Ok(lwt.await?.applied)
    }
}

impl Db {
    pub(super) async fn announce_node(&self, n: &ClusterNode, ttl: Duration) -> Result<()> {
        let ttl = i32::try_from(ttl.as_secs().max(1)).unwrap_or(i32::MAX);
        let values = (n.node_id.as_str(), n.http_addr.as_str(), micros(n.updated_at), ttl);
        self.cql.write("announcing a node", &self.directory.member_set, values).await
    }

    pub(super) async fn nodes(&self) -> Result<Vec<ClusterNode>> {
        let rows = self
            .cql
            .rows::<(String, String, i64), _>("listing the nodes", &self.directory.member_list, &())
            .await?;
        rows.into_iter()
            .map(|(node_id, http_addr, at)| {
                Ok(ClusterNode { node_id, http_addr, updated_at: super::codec::time("updated_at", at)? })
            })
            .collect()
    }
}

#[async_trait]
impl Directory for ScyllaStore {
    async fn set_pile_node(&self, node: &PileNode, ttl: std::time::Duration) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.set_pile_node(node, ttl).await)
    }

    async fn pile_node(&self, pile: &PileId) -> Result<Option<PileNode>> {
        self.db.pile_node(pile).await
    }

    async fn remove_pile_node(&self, pile: &PileId, node_id: &str) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.remove_pile_node(pile, node_id).await)
    }

    async fn announce_node(&self, node: &ClusterNode, ttl: Duration) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.announce_node(node, ttl).await)
    }

    async fn nodes(&self) -> Result<Vec<ClusterNode>> {
        self.db.nodes().await
    }
}
