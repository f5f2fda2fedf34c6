//! Charges queued for room survive their station's owner changing.
//!
//! With several nodes, a queued charge waits in the owner's queue, which
//! lives only in the owner's memory: when the owner dies or loses its lease,
//! the queue goes with it, and the port would wait for an `Admitted` that
//! never comes. So the node holding a port also remembers the charge queued
//! on it, with the owner token whose queue holds it. Whenever the station's
//! owner holds another token (a new owner, or a hand-on that failed), the
//! charge is queued again with the owner of now: this node's own queue if
//! it took the lease, else the new owner's over the node-to-node channel.
//! Queued again, it joins the end of the new owner's queue.

use actix::prelude::*;
use vocab::Protocol;

use super::lease::{Notify, PileRef, Role};
use super::{Admission, Admitted, PortKey, Station, Waiting};
use crate::owner::{self, Call, Reply};
use crate::pile::Pile;

/// A charge queued on a port of this node.
pub(super) struct QueuedHere {
    pub port: Recipient<Admitted>,
    pub pile: Addr<Pile>,
    pub protocol: Protocol,
    pub resume: bool,
    /// The owner token whose queue holds it; `None` until an owner has it.
    pub under: Option<i64>,
}

impl Station {
    /// Remembers a charge about to ask for room with a wish to wait, when
    /// an owner on another node or a later one may hold its place.
    pub(super) fn queuing(&mut self, key: &PortKey, q: Option<QueuedHere>) {
        if let (Some(q), Some(_)) = (q, &self.platform.config.directory) {
            self.queued_here.insert(key.clone(), q);
        }
    }

    /// The owner's answer to a charge `queuing`: under `token`'s queue, or
    /// not waiting at all.
    pub(super) fn queued_under(&mut self, key: &PortKey, result: &Result<Admission, String>, token: i64) {
        match result {
            Ok(Admission::Queued(_)) => {
                if let Some(q) = self.queued_here.get_mut(key) {
                    q.under = Some(token);
                }
            }
            _ => {
                self.queued_here.remove(key);
            }
        }
    }

    /// Queues again, with the owner of now, every charge here that waits in
    /// another owner's queue.
    pub(super) fn hand_on_queued(&mut self, ctx: &mut Context<Self>) {
        match &self.role {
            Role::Owner { token, .. } if self.role.grants() => self.requeue_here(*token),
            Role::Follower { owner: Some(lease) } => {
                let (to, token) = (lease.http_addr.clone(), lease.token);
                self.requeue_there(to, token, ctx);
            }
            _ => {}
        }
    }

    /// This node owns the station now: its ports' charges join its queue.
    fn requeue_here(&mut self, token: i64) {
        let keys: Vec<PortKey> =
            self.queued_here.iter().filter(|(_, q)| q.under != Some(token)).map(|(k, _)| k.clone()).collect();
        for key in keys {
            let Some(q) = self.queued_here.get(&key) else { continue };
            let waiting = Waiting {
                key: key.clone(),
                pile: PileRef::Local(q.pile.clone()),
                protocol: q.protocol,
                port: Some(Notify::Local(q.port.clone())),
                resume: None,
            };
            let (resume, port) = (q.resume, q.port.clone());
            let result = self.admission(waiting, resume);
            tracing::info!(station = self.ctx.record.id, port = ?key, ?result, "queued charge taken over by this node's queue");
            if let Ok(Admission::Now) = result {
                port.do_send(Admitted);
            }
            self.queued_under(&key, &result, token);
        }
    }

    /// Another node owns the station under `token`: its queue takes the
    /// charges waiting here under an older one.
    fn requeue_there(&mut self, to: String, token: i64, ctx: &mut Context<Self>) {
        let id = self.ctx.record.id;
        let mut calls = Vec::new();
        for (key, q) in self.queued_here.iter_mut().filter(|(_, q)| q.under != Some(token)) {
            // Held at once, so the next lease call does not send it twice.
            q.under = Some(token);
            let (pile, port, protocol, resume) = (key.0.clone(), key.1, q.protocol, q.resume);
            calls.push((key.clone(), Call::Admit { pile, port, protocol, queue: true, resume }));
        }
        for (key, call) in calls {
            let (platform, to) = (self.platform.clone(), to.clone());
            let asked = async move { owner::send(&platform, &to, id, token, call).await };
            ctx.spawn(asked.into_actor(self).map(move |reply, st, _| {
                let Some(q) = st.queued_here.get_mut(&key) else { return };
                match reply {
                    Ok(Reply::Admission { result: Ok(Admission::Now), .. }) => {
                        q.port.do_send(Admitted);
                        st.queued_here.remove(&key);
                    }
                    Ok(Reply::Admission { result: Ok(Admission::Queued(_)), .. }) => {
                        tracing::info!(station = id, port = ?key, token, "queued charge handed on to the station's new owner");
                    }
                    // Not taken: asked again at the next lease call.
                    _ if q.under == Some(token) => q.under = None,
                    _ => {}
                }
            }));
        }
    }
}
