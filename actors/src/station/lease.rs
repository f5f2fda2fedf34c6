//! Which node manages a station's power, with several nodes on one store.
//!
//! Every node holding one of the station's piles runs its actor (the piles'
//! supervisor), and each asks for the station's lease (`store::leases`)
//! every `lease_renew`. The holder is the owner: it alone admits charges and
//! shares the limit, over its own ports and those the other nodes report to
//! it (`owner`). It stops granting the moment its lease would lapse by its
//! own clock, whatever the store says later. A new owner starts from its own
//! ports; the other nodes see the new token at their next lease call and
//! report theirs, so it grants nothing until that has had time to happen.
//! One node (no cluster configured) is always the owner and asks nobody.

use std::time::Instant;

use actix::prelude::*;
use rust_decimal::Decimal;
use vocab::{PileId, PortNo, Protocol, SessionId};

use super::{Admission, Admit, Admitted, PortKey, Station};
use crate::adapter::PileCommand;
use crate::owner::{self, Call, Envelope, Reply};
use crate::pile::{self, Pile};
use crate::Platform;

pub(super) enum Role {
    /// One node: it manages every station, with no lease.
    Alone,
    /// This node holds the lease with `token` until `until` (from when the
    /// renewal was asked); it grants from `settled` on.
    Owner { token: i64, until: Instant, settled: Instant },
    /// Another node holds it (or nobody, as far as this node knows).
    Follower { owner: Option<store::Lease> },
}

impl Role {
    pub(super) fn new(platform: &Platform) -> Role {
        match platform.config.directory {
            Some(_) => Role::Follower { owner: None },
            None => Role::Alone,
        }
    }

    /// Whether this node manages the station's power now.
    pub(super) fn owns(&self) -> bool {
        match self {
            Role::Alone => true,
            Role::Owner { until, .. } => Instant::now() < *until,
            Role::Follower { .. } => false,
        }
    }

    /// Whether it may grant power: it owns the station and knows every charge.
    pub(super) fn grants(&self) -> bool {
        match self {
            Role::Owner { settled, .. } => self.owns() && Instant::now() >= *settled,
            _ => self.owns(),
        }
    }

    /// Until when a new owner waits for the other nodes' charges.
    pub(super) fn settling(&self) -> Option<Instant> {
        match self {
            Role::Owner { settled, .. } if self.owns() && Instant::now() < *settled => Some(*settled),
            _ => None,
        }
    }

    pub(super) fn token(&self) -> Option<i64> {
        match self {
            Role::Owner { token, .. } => Some(*token),
            _ => None,
        }
    }

    /// The node managing the station's power, for views; `None` alone.
    pub(super) fn owner(&self, platform: &Platform) -> Option<String> {
        match self {
            Role::Alone => None,
            Role::Owner { .. } => platform.config.directory.as_ref().map(|n| n.node_id.clone()),
            Role::Follower { owner } => owner.as_ref().map(|l| l.holder.clone()),
        }
    }
}

/// A charging port's pile: here, or on the node serving at this address.
#[derive(Clone, Debug)]
pub(super) enum PileRef {
    Local(Addr<Pile>),
    Remote(String),
}

/// Whom to tell that a queued charge fits now.
pub(super) enum Notify {
    Local(Recipient<Admitted>),
    Remote(String),
}

/// A port's live state (`super::PortPower`), wherever its pile is.
#[derive(Clone)]
pub(super) struct Report {
    pub key: PortKey,
    pub pile: PileRef,
    pub protocol: Protocol,
    pub session: Option<SessionId>,
    pub charging: bool,
    pub power_w: Option<Decimal>,
}

/// Tells a pile to stop a port's charge for power.
pub(super) fn power_stop(
    platform: &std::sync::Arc<Platform>,
    station: i64,
    role: &Role,
    pile: &PileRef,
    key: &PortKey,
) {
    match pile {
        PileRef::Local(addr) => addr.do_send(pile::PowerStop(key.1)),
        PileRef::Remote(to) => {
            remote(platform, station, role, to, Call::PowerStop { pile: key.0.clone(), port: key.1 })
        }
    }
}

/// Sends a pile its ports' limits.
pub(super) fn power_limit(
    platform: &std::sync::Arc<Platform>,
    station: i64,
    role: &Role,
    pile: &PileRef,
    pile_id: PileId,
    limits: Vec<(PortNo, Option<SessionId>, Decimal)>,
    rated_w: Decimal,
) {
    match pile {
        PileRef::Local(addr) => addr.do_send(pile::Send(PileCommand::PowerLimit { limits, rated_w })),
        PileRef::Remote(to) => {
            remote(platform, station, role, to, Call::PowerLimit { pile: pile_id, limits, rated_w })
        }
    }
}

/// Tells a port its queued charge fits now.
pub(super) fn admitted(
    platform: &std::sync::Arc<Platform>,
    station: i64,
    role: &Role,
    port: &Notify,
    key: &PortKey,
) {
    match port {
        Notify::Local(r) => r.do_send(Admitted),
        Notify::Remote(to) => {
            remote(platform, station, role, to, Call::Admitted { pile: key.0.clone(), port: key.1 })
        }
    }
}

fn remote(platform: &std::sync::Arc<Platform>, station: i64, role: &Role, to: &str, call: Call) {
    if let Some(token) = role.token() {
        owner::post(platform, to, station, token, call);
    }
}

impl Station {
    /// Asks for the lease, or renews it; one call at a time.
    pub(super) fn lease(&mut self, ctx: &mut Context<Self>) {
        let Some(node) = self.platform.config.directory.clone() else { return };
        if self.handed_over {
            return;
        }
        // A lease that lapsed by this node's clock stops its grants at once.
        if let Role::Owner { token, until, .. } = self.role {
            if Instant::now() >= until {
                self.lose(token, "it lapsed before a renewal got through");
            }
        }
        if std::mem::replace(&mut self.leasing, true) {
            return;
        }
        let (store, id, asked) = (self.platform.store.clone(), self.ctx.record.id, Instant::now());
        if let Role::Owner { token, .. } = self.role {
            let (holder, ttl) = (node.node_id.clone(), node.lease_ttl);
            let renew = async move { store.renew_lease(id, &holder, token, ttl).await };
            ctx.spawn(renew.into_actor(self).map(move |res, st, ctx| {
                st.leasing = false;
                match res {
                    Ok(true) => {
                        if let Role::Owner { token: t, until, .. } = &mut st.role {
                            if *t == token {
                                *until = asked + node.lease_ttl;
                            }
                        }
                        st.hand_on_queued(ctx);
                    }
                    Ok(false) => st.lose(token, "another node holds it"),
                    // It lapses at `until` unless a renewal gets through first.
                    Err(e) => tracing::warn!(station = id, error = %e, "could not renew the station's lease"),
                }
            }));
            return;
        }
        let (holder, addr, ttl) = (node.node_id.clone(), node.http_addr.clone(), node.lease_ttl);
        // A read first: while another node holds the lease, asking for it
        // writes nothing.
        let platform = self.platform.clone();
        let acquire = async move {
            match platform.lease_reads.read(id).await? {
                Some(l) if l.expires_at > chrono::Utc::now() && l.holder != holder => Ok(l),
                _ => store.acquire_lease(id, &holder, &addr, ttl).await,
            }
        };
        ctx.spawn(acquire.into_actor(self).map(move |res, st, ctx| {
            st.leasing = false;
            match res {
                Ok(l) if l.holder == node.node_id => st.take(l.token, asked + node.lease_ttl, ctx),
                Ok(l) => {
                    st.follow(l);
                    st.hand_on_queued(ctx);
                }
                Err(e) => tracing::warn!(station = id, error = %e, "could not read the station's lease"),
            }
        }));
    }

    /// This node holds the lease: it rebuilds the station's power from its
    /// own ports and the store, and grants once the others have reported.
    fn take(&mut self, token: i64, until: Instant, ctx: &mut Context<Self>) {
        let id = self.ctx.record.id;
        if self.lost == Some(token) {
            // Lost under this token already (the store still says ours):
            // give it up so the next holder's token is higher.
            actix_rt::spawn(self.release(token));
            return;
        }
        if let Role::Owner { token: t, until: u, .. } = &mut self.role {
            if *t == token {
                *u = until;
                return;
            }
        }
        let settle =
            self.platform.config.directory.as_ref().map_or(Default::default(), |n| n.lease_renew * 2);
        tracing::info!(station = id, token, "took the station's lease: this node manages its power");
        self.max_token = self.max_token.max(token);
        self.role = Role::Owner { token, until, settled: Instant::now() + settle };
        let channel = &self.platform.channel;
        channel.leases_held.inc();
        channel.lease_changes.with_label_values(&["taken"]).inc();
        self.forget_power();
        let here: Vec<Report> = self.local.values().cloned().collect();
        for report in here {
            self.port_power(report, ctx);
        }
        // The station as the store has it now, in case an edit was missed.
        self.reread(ctx);
        ctx.run_later(settle, |st, ctx| {
            st.reallocate();
            st.hand_on_queued(ctx);
            st.admit_waiting();
        });
    }

    /// The lease is gone: stop granting now, and give it back.
    fn lose(&mut self, token: i64, why: &str) {
        if self.step_down(token, why) {
            actix_rt::spawn(self.release(token));
        }
    }

    /// Stops granting under `token`, if this node holds it.
    fn step_down(&mut self, token: i64, why: &str) -> bool {
        if self.role.token() != Some(token) {
            return false;
        }
        tracing::warn!(
            station = self.ctx.record.id,
            token,
            why,
            "lost the station's lease: no more grants from this node"
        );
        self.role = Role::Follower { owner: None };
        self.lost = Some(token);
        let channel = &self.platform.channel;
        channel.leases_held.dec();
        channel.lease_changes.with_label_values(&["lost"]).inc();
        self.forget_power();
        true
    }

    /// Gives the lease back, so the next holder need not wait for it to lapse.
    fn release(&self, token: i64) -> impl std::future::Future<Output = ()> + 'static {
        let node = self.platform.config.directory.as_ref().map(|n| n.node_id.clone());
        let (store, id) = (self.platform.store.clone(), self.ctx.record.id);
        async move {
            let Some(holder) = node else { return };
            if let Err(e) = store.release_lease(id, &holder, token).await {
                tracing::warn!(station = id, error = %e, "could not release the station's lease");
            }
        }
    }

    fn forget_power(&mut self) {
        self.charging.clear();
        self.waiting.clear();
        self.power_stopped.clear();
        self.last = None;
        self.over_since = None;
    }

    /// Another node holds the lease: a new owner is told this node's charges.
    fn follow(&mut self, lease: store::Lease) {
        self.max_token = self.max_token.max(lease.token);
        let known = matches!(&self.role, Role::Follower { owner: Some(o) } if o.token == lease.token);
        if !known {
            tracing::info!(
                station = lease.station_id,
                owner = lease.holder,
                token = lease.token,
                "the station's power is managed on another node"
            );
            for report in self.local.values() {
                owner::post(&self.platform, &lease.http_addr, lease.station_id, lease.token, report.call());
            }
        }
        self.role = Role::Follower { owner: Some(lease) };
    }

    /// Keeps a port's report for a future owner; true if this node is the
    /// owner and handles it, else it is sent on to the owner.
    pub(super) fn report_here(&mut self, report: &Report) -> bool {
        match report.charging {
            true => self.local.insert(report.key.clone(), report.clone()),
            false => self.local.remove(&report.key),
        };
        if self.role.owns() {
            return true;
        }
        if let Role::Follower { owner: Some(l) } = &self.role {
            owner::post(&self.platform, &l.http_addr, l.station_id, l.token, report.call());
        }
        false
    }

    /// Asks the owner on another node to admit a charge here.
    pub(super) fn admit_remotely(&mut self, msg: Admit) -> ActorResponse<Self, Result<Admission, String>> {
        let id = self.ctx.record.id;
        let Role::Follower { owner: Some(lease) } = &self.role else {
            let why =
                format!("station {id}'s power is being taken over by another node; try again in a moment");
            return ActorResponse::reply(Err(why));
        };
        let (to, token, platform) = (lease.http_addr.clone(), lease.token, self.platform.clone());
        let key = msg.key.clone();
        let queue = msg.queue.is_some();
        let remembered = msg.queue.map(|port| {
            let (pile, protocol, resume) = (msg.pile.clone(), msg.protocol, msg.resume);
            super::handover::QueuedHere { port, pile, protocol, resume, under: None }
        });
        self.queuing(&key, remembered);
        let call = Call::Admit {
            pile: key.0.clone(),
            port: key.1,
            protocol: msg.protocol,
            queue,
            resume: msg.resume,
        };
        let asked = async move { owner::send(&platform, &to, id, token, call).await };
        ActorResponse::r#async(asked.into_actor(self).map(move |reply, st, _| {
            let result = match reply {
                Ok(Reply::Admission { token, result }) if token >= st.max_token => {
                    st.max_token = token;
                    st.queued_under(&key, &result, token);
                    result
                }
                Ok(Reply::Admission { .. } | Reply::Stale) => {
                    Err(format!("station {id}'s owner lost its lease; try again"))
                }
                Ok(Reply::NotOwner | Reply::Done) => {
                    Err(format!("station {id}'s power changed hands; try again"))
                }
                Err(_) => Err(format!(
                    "station {id}'s power is managed on another node, which did not answer; try again"
                )),
            };
            if result.is_err() {
                st.queued_here.remove(&key);
            }
            result
        }))
    }

    /// Takes up the station as the store holds it now (`super::Reconcile`).
    fn reread(&mut self, ctx: &mut Context<Self>) {
        let (platform, id) = (self.platform.clone(), self.ctx.record.id);
        let read = async move { crate::registry::read_station(&platform, id).await };
        ctx.spawn(read.into_actor(self).map(|read, _, ctx| {
            if let Ok(Some((record, tariff))) = read {
                ctx.address().do_send(super::Reconcile(record, tariff));
            }
        }));
    }

    fn owns_token(&self, token: i64) -> bool {
        self.role.token() == Some(token) && self.role.owns()
    }
}

impl Report {
    fn call(&self) -> Call {
        Call::PortPower {
            pile: self.key.0.clone(),
            port: self.key.1,
            protocol: self.protocol,
            session: self.session.clone(),
            charging: self.charging,
            power_w: self.power_w,
        }
    }
}

/// A station message from another node (`owner`).
#[derive(Message)]
#[rtype(result = "Reply")]
pub struct FromNode(pub Envelope);

impl Handler<FromNode> for Station {
    type Result = ResponseActFuture<Self, Reply>;

    fn handle(&mut self, FromNode(env): FromNode, ctx: &mut Context<Self>) -> Self::Result {
        let Envelope { from, token, call } = env;
        let reply = match call {
            // From the node that took an edit, to any node running the station.
            Call::Changed => {
                self.reread(ctx);
                Reply::Done
            }
            // To the owner, from a node holding one of the station's piles.
            Call::Admit { .. } | Call::PortPower { .. } if !self.owns_token(token) => Reply::NotOwner,
            Call::Admit { pile, port, protocol, queue, resume } => {
                let waiting = super::Waiting {
                    key: (pile, port),
                    pile: PileRef::Remote(from.clone()),
                    protocol,
                    port: queue.then_some(Notify::Remote(from)),
                    resume: None,
                };
                // A new owner answers once it knows every charge.
                if let Some(at) = self.role.settling() {
                    let later = actix::clock::sleep_until(at.into()).into_actor(self);
                    return Box::pin(later.map(move |_, st, _| Reply::Admission {
                        token,
                        result: st.admission(waiting, resume),
                    }));
                }
                Reply::Admission { token, result: self.admission(waiting, resume) }
            }
            Call::PortPower { pile, port, protocol, session, charging, power_w } => {
                if self.power.is_some() {
                    let key = (pile, port);
                    let report =
                        Report { key, pile: PileRef::Remote(from), protocol, session, charging, power_w };
                    self.port_power(report, ctx);
                }
                Reply::Done
            }
            // From the owner, to this node holding the pile: fenced by its token.
            _ if token < self.max_token => {
                tracing::warn!(
                    station = self.ctx.record.id,
                    token,
                    seen = self.max_token,
                    "refused a stale owner's message"
                );
                Reply::Stale
            }
            call => {
                self.max_token = token;
                let registry = &self.platform.registry;
                match call {
                    Call::PowerLimit { pile, limits, rated_w } => {
                        if let Some(addr) = registry.pile(&pile) {
                            addr.do_send(pile::Send(PileCommand::PowerLimit { limits, rated_w }));
                        }
                    }
                    Call::PowerStop { pile, port } => {
                        if let Some(addr) = registry.pile(&pile) {
                            addr.do_send(pile::PowerStop(port));
                        }
                    }
                    Call::Admitted { pile, port } => {
                        if let Some(q) = self.queued_here.remove(&(pile, port)) {
                            q.port.do_send(Admitted);
                        }
                    }
                    Call::Admit { .. } | Call::PortPower { .. } | Call::Changed => {}
                }
                Reply::Done
            }
        };
        Box::pin(fut::ready(reply))
    }
}

/// The node is stopping: it gives the station's lease back, so another node
/// takes the station over within a renewal rather than the lease's TTL,
/// and asks for it no more.
#[derive(Message)]
#[rtype(result = "()")]
pub struct HandOver;

impl Handler<HandOver> for Station {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: HandOver, _: &mut Context<Self>) -> Self::Result {
        self.handed_over = true;
        match self.role.token() {
            Some(token) if self.step_down(token, "the node is stopping") => Box::pin(self.release(token)),
            _ => Box::pin(async {}),
        }
    }
}
