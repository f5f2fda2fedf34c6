//! A link is one pile connection: it owns the socket, its codec and the
//! protocol adapter. It logs the pile in (refusing ids no operator
//! registered; a login the store cannot answer is refused too, unless the
//! protocol has the pile retry on the same link), then relays events to
//! the pile actor and commands back as frames. A damaged frame is counted
//! and dropped; a frame the codec cannot delimit, or silence past the
//! heartbeat window, closes this link alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::io::{FramedWrite, WriteHandler};
use actix::prelude::*;
use store::PileRecord;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::FramedRead;
use vocab::PileId;

use crate::adapter::{Adapter, Inbound, LoginInfo, Out, PileCommand, PileEvent, ReplyTo};
use crate::metrics::Mailbox;
use crate::pacing::Pacer;
use crate::pile::{self, Pile, ToLink};
use crate::{registry, Platform};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

type Writer = Box<dyn AsyncWrite + Unpin>;

enum State {
    Connected,
    LoggingIn,
    /// Its login could not be decided (the store did not answer); the
    /// pile's next login runs it again.
    Deferred,
    Attached {
        pile: PileId,
        addr: Addr<Pile>,
    },
    /// Flushing its last frames before the connection closes.
    Closing,
}

/// Bytes a link's read buffer starts with; it grows if a burst needs more.
const READ_BUFFER: usize = 512;

/// How long a closing link waits for its last frames to flush.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

pub struct Link<A: Adapter> {
    id: u64,
    platform: Arc<Platform>,
    adapter: A,
    out: FramedWrite<A::Frame, Writer, A::Codec>,
    peer: String,
    state: State,
    opened: Instant,
    last_seen: Instant,
    /// The id the pile gave at login, for log lines before it is accepted.
    claimed: Option<PileId>,
    /// Commands paced and resent as the protocol asks (made on first use).
    pacer: Option<Box<Pacer<A::Frame>>>,
    /// A wake-up to send the next paced command is scheduled.
    pacer_wake: bool,
}

impl<A: Adapter> Link<A> {
    /// Starts a link on a connection whose first bytes named protocol `A`.
    pub fn start<R, W>(platform: Arc<Platform>, read: R, write: W, peer: String) -> Addr<Self>
    where
        R: AsyncRead + Unpin + 'static,
        W: AsyncWrite + Unpin + 'static,
    {
        let adapter = A::new(platform.config.clock);
        Self::start_with(platform, adapter, read, write, peer)
    }

    /// Starts a link with an adapter that knows something already (OCPP:
    /// the charge point's id, from the URL).
    pub fn start_with<R, W>(
        platform: Arc<Platform>,
        adapter: A,
        read: R,
        write: W,
        peer: String,
    ) -> Addr<Self>
    where
        R: AsyncRead + Unpin + 'static,
        W: AsyncWrite + Unpin + 'static,
    {
        Link::create(move |ctx| {
            // Frames are at most a few hundred bytes: a small read buffer
            // keeps an idle link's memory low (8 KiB is the default).
            ctx.add_stream(FramedRead::with_capacity(read, A::codec(), READ_BUFFER));
            let now = Instant::now();
            Link {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                adapter,
                platform,
                out: FramedWrite::new(Box::new(write) as Writer, A::codec(), ctx),
                peer,
                state: State::Connected,
                opened: now,
                last_seen: now,
                claimed: None,
                pacer: None,
                pacer_wake: false,
            }
        })
    }

    fn who(&self) -> String {
        match (&self.state, &self.claimed) {
            (State::Attached { pile, .. }, _) => format!("pile {pile}"),
            (_, Some(pile)) => format!("pile {pile} (not logged in)"),
            _ => format!("unidentified pile at {}", self.peer),
        }
    }

    fn write(&mut self, frame: A::Frame) {
        self.platform.metrics.frame_out(A::PROTOCOL, A::frame_type(&frame));
        self.out.write(frame);
    }

    /// Closes the connection once what was written is flushed (the writer
    /// then stops the actor), or after a grace period if the peer stalls.
    fn close(&mut self, ctx: &mut Context<Self>, reason: &'static str) {
        if matches!(self.state, State::Closing) {
            return;
        }
        self.closed(reason);
        self.detach();
        self.state = State::Closing;
        self.out.close();
        ctx.run_later(CLOSE_GRACE, |_, ctx| ctx.stop());
    }

    fn closed(&self, reason: &'static str) {
        self.platform.metrics.links_closed.with_label_values(&[A::PROTOCOL.as_str(), reason]).inc();
    }

    /// Tells the pile this link is no longer its own.
    fn detach(&mut self) {
        if let State::Attached { addr, .. } = std::mem::replace(&mut self.state, State::Closing) {
            addr.do_send(pile::Detach { link_id: self.id });
            self.platform.metrics.piles_connected.with_label_values(&[A::PROTOCOL.as_str()]).dec();
        }
    }

    fn fault(&self, kind: &'static str) {
        self.platform.metrics.frame_errors.with_label_values(&[A::PROTOCOL.as_str(), kind]).inc();
    }

    fn login(&mut self, info: LoginInfo, reply: ReplyTo, ctx: &mut Context<Self>) {
        self.state = State::LoggingIn;
        self.claimed = Some(info.pile.clone());
        let platform = self.platform.clone();
        let me = ctx.address().recipient();
        let link_id = self.id;
        let pile_id = info.pile.clone();
        let fut = async move {
            // A reconnect storm waits its turn here rather than being dropped.
            platform.metrics.logins_waiting.inc();
            let permit = platform.logins.acquire().await;
            platform.metrics.logins_waiting.dec();
            let _permit = permit.map_err(|_| "error")?;
            let record = authorize::<A>(&platform, &info).await?;
            let addr = registry::pile(&platform, record).await.map_err(|e| {
                tracing::error!(pile = %info.pile, error = %e, "could not start the pile's actor");
                "error"
            })?;
            let offset = addr.send(pile::Attach { link_id, link: me, info }).await.map_err(|_| "error")?;
            Ok::<_, &'static str>((addr, offset))
        };
        ctx.wait(fut.into_actor(self).map(move |res, link, ctx| {
            let protocol = A::PROTOCOL.as_str();
            let m = &link.platform.metrics;
            match res {
                Ok((addr, offset)) => {
                    m.logins.with_label_values(&[protocol, "accepted"]).inc();
                    m.piles_connected.with_label_values(&[protocol]).inc();
                    link.adapter.set_utc_offset(offset);
                    tracing::info!(pile = %pile_id, peer = %link.peer, "pile logged in");
                    link.state = State::Attached { pile: pile_id, addr };
                    link.command(PileCommand::LoginReply { accepted: true, reply }, ctx);
                }
                Err(reason) => {
                    m.logins.with_label_values(&[protocol, reason]).inc();
                    let mut out = Out::default();
                    if reason == "error" && link.adapter.login_later(reply, &mut out) {
                        tracing::warn!(pile = %pile_id, peer = %link.peer, "login undecided; the pile is to retry");
                        link.state = State::Deferred;
                        return link.dispatch(out, ctx);
                    }
                    tracing::warn!(pile = %pile_id, peer = %link.peer, reason, "login refused");
                    link.command(PileCommand::LoginReply { accepted: false, reply }, ctx);
                    link.close(ctx, "login_refused");
                }
            }
        }));
    }

    fn command(&mut self, cmd: PileCommand, ctx: &mut Context<Self>) {
        let mut out = Out::default();
        self.adapter.outbound(cmd, &mut out);
        self.dispatch(out, ctx);
    }

    /// Sends frames (paced where the protocol asks) and hands events to the
    /// pile actor.
    fn dispatch(&mut self, mut out: Out<A::Frame>, ctx: &mut Context<Self>) {
        for event in out.events.drain(..) {
            match (event, &self.state) {
                (PileEvent::Login(info, reply), State::Connected | State::Deferred) => {
                    self.login(info, reply, ctx)
                }
                (PileEvent::Login(..), _) => tracing::debug!(who = %self.who(), "repeated login ignored"),
                (event, State::Attached { addr, .. }) => {
                    addr.do_send(pile::Event(event, self.platform.metrics.queued(Mailbox::Pile)))
                }
                _ => self.fault("before_login"),
            }
        }
        for frame in out.replies {
            match A::awaits_answer(&frame) {
                Some(key) => {
                    let gap = self.platform.config.dny_command_gap;
                    let pacer = self.pacer.get_or_insert_with(|| {
                        Box::new(if A::ONE_IN_FLIGHT { Pacer::one_in_flight() } else { Pacer::new(gap) })
                    });
                    pacer.push(key, frame, false);
                    self.send_paced(ctx);
                }
                None => self.write(frame),
            }
        }
    }

    /// Sends the paced commands whose turn has come, and wakes up for the next.
    fn send_paced(&mut self, ctx: &mut Context<Self>) {
        let Some(pacer) = &mut self.pacer else { return };
        if self.pacer_wake || matches!(self.state, State::Closing) {
            return;
        }
        loop {
            match pacer.next(Instant::now()) {
                Ok(q) => {
                    if A::ONE_IN_FLIGHT {
                        let key = q.key;
                        ctx.run_later(self.platform.config.ocpp.call_timeout, move |link, ctx| {
                            link.give_up(key, ctx)
                        });
                    } else if !q.resend {
                        let (key, frame) = (q.key, q.frame.clone());
                        ctx.run_later(self.platform.config.dny_resend_after, move |link, ctx| {
                            link.resend(key, frame, ctx)
                        });
                    }
                    self.platform.metrics.frame_out(A::PROTOCOL, A::frame_type(&q.frame));
                    self.out.write(q.frame);
                }
                Err(None) => return,
                Err(Some(wait)) => {
                    self.pacer_wake = true;
                    ctx.run_later(wait, |link, ctx| {
                        link.pacer_wake = false;
                        link.send_paced(ctx);
                    });
                    return;
                }
            }
        }
    }

    /// A command still unanswered after the protocol's wait is given up
    /// (OCPP), and the next queued one goes out.
    fn give_up(&mut self, key: u32, ctx: &mut Context<Self>) {
        let Some(pacer) = &mut self.pacer else { return };
        if pacer.take_unanswered(key) {
            tracing::info!(who = %self.who(), "command unanswered in time; giving it up");
            self.platform
                .metrics
                .frame_errors
                .with_label_values(&[A::PROTOCOL.as_str(), "call_timeout"])
                .inc();
            let mut out = Out::default();
            self.adapter.timed_out(key, &mut out);
            self.dispatch(out, ctx);
            self.send_paced(ctx);
        }
    }

    /// A command still unanswered after the protocol's wait is sent once more.
    fn resend(&mut self, key: u32, frame: A::Frame, ctx: &mut Context<Self>) {
        let Some(pacer) = &mut self.pacer else { return };
        if pacer.take_unanswered(key) {
            pacer.push(key, frame, true);
            tracing::debug!(who = %self.who(), "command unanswered; sending it again");
            self.platform.metrics.command_resends.with_label_values(&[A::PROTOCOL.as_str()]).inc();
            self.send_paced(ctx);
        }
    }
}

/// Whether a pile may log in: registered by an operator, or auto-registered
/// into the configured station.
async fn authorize<A: Adapter>(platform: &Platform, info: &LoginInfo) -> Result<PileRecord, &'static str> {
    let store = &platform.store;
    let found = store.pile(&info.pile).await.map_err(|e| {
        tracing::error!(pile = %info.pile, error = %e, "could not look up a pile at login");
        "error"
    })?;
    let record = match (found, platform.config.auto_register) {
        (Some(record), _) => record,
        (None, None) => return Err("unknown_pile"),
        (None, Some(station_id)) => {
            let record = PileRecord {
                id: info.pile.clone(),
                station_id,
                protocol: A::PROTOCOL,
                ports: info.ports,
                created_at: platform.now(),
            };
            match store.create_pile(&record).await {
                Ok(()) | Err(store::StoreError::Conflict(_)) => record,
                Err(e) => {
                    tracing::error!(pile = %info.pile, error = %e, "could not auto-register a pile");
                    return Err("error");
                }
            }
        }
    };
    if record.protocol != A::PROTOCOL {
        return Err("wrong_protocol");
    }
    let item = store::Item::new(store::ItemKind::Pile, &record.id);
    match store.out_of_service(&item).await {
        Ok(None) => Ok(record),
        Ok(Some(_)) => Err("out_of_service"),
        Err(e) => {
            tracing::error!(pile = %info.pile, error = %e, "could not look up a pile at login");
            Err("error")
        }
    }
}

impl<A: Adapter> Actor for Link<A> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let mut out = Out::default();
        self.adapter.opened(&mut out);
        self.dispatch(out, ctx);
        let cfg = &self.platform.config;
        let tick = (cfg.heartbeat_timeout(A::PROTOCOL) / 3)
            .min(cfg.login_timeout / 3)
            .max(Duration::from_millis(10));
        ctx.run_interval(tick, |link, ctx| {
            let cfg = &link.platform.config;
            if matches!(link.state, State::Connected) && link.opened.elapsed() > cfg.login_timeout {
                tracing::info!(peer = %link.peer, "no login in time; closing");
                link.close(ctx, "login_timeout");
            } else if link.last_seen.elapsed() > cfg.heartbeat_timeout(A::PROTOCOL) {
                tracing::info!(who = %link.who(), "heartbeat window passed in silence; closing");
                link.close(ctx, "heartbeat_timeout");
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.detach();
    }
}

impl<A: Adapter> StreamHandler<Result<A::DecodeItem, A::Fatal>> for Link<A> {
    fn handle(&mut self, item: Result<A::DecodeItem, A::Fatal>, ctx: &mut Context<Self>) {
        let item = match item {
            Ok(item) => item,
            Err(e) => {
                let kind = A::fatal_label(&e);
                self.fault(kind);
                tracing::warn!(who = %self.who(), error = %e, "unreadable stream; closing the connection");
                return self.close(ctx, kind);
            }
        };
        if matches!(self.state, State::Closing) {
            return;
        }
        self.last_seen = Instant::now();
        if let Some(kind) = A::item_type(&item) {
            self.platform.metrics.frame_in(A::PROTOCOL, kind);
        }
        let mut answered = false;
        if let (Some(pacer), Some(key)) = (&mut self.pacer, A::answers(&item)) {
            pacer.answered(key);
            answered = A::ONE_IN_FLIGHT;
        }
        // Not kept between items: a 10-port heartbeat's events would keep
        // ~2.5 KB per idle link, and freed ones still count in the RSS.
        let mut out = Out::default();
        match self.adapter.inbound(item, &mut out) {
            Inbound::Ok => {}
            Inbound::Fault(kind) => {
                self.fault(kind);
                tracing::debug!(who = %self.who(), kind, "frame dropped");
            }
            Inbound::Unhandled => tracing::debug!(who = %self.who(), "frame not acted on"),
        }
        let mut before_login = false;
        for event in out.events.drain(..) {
            match (event, &self.state) {
                (PileEvent::Login(info, reply), State::Connected | State::Deferred) => {
                    self.login(info, reply, ctx)
                }
                (PileEvent::Login(..), _) => tracing::debug!(who = %self.who(), "repeated login ignored"),
                // Its pile actor died: drop the link, so the pile logs in
                // again and its station restarts the actor.
                (_, State::Attached { addr, .. }) if !addr.connected() => {
                    self.close(ctx, "pile_actor_restarting");
                    break;
                }
                (event, State::Attached { addr, .. }) => {
                    addr.do_send(pile::Event(event, self.platform.metrics.queued(Mailbox::Pile)))
                }
                _ => before_login = true,
            }
        }
        // Nothing counts, and nothing is answered, before a successful login.
        if !matches!(self.state, State::Attached { .. }) {
            before_login |= !out.replies.is_empty();
            out.replies.clear();
        }
        if before_login {
            self.fault("before_login");
        }
        for frame in out.replies.drain(..) {
            self.write(frame);
        }
        if answered {
            self.send_paced(ctx);
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        if !matches!(self.state, State::Closing) {
            self.closed("peer_closed");
        }
        ctx.stop();
    }
}

impl<A: Adapter> WriteHandler<std::io::Error> for Link<A> {
    fn error(&mut self, err: std::io::Error, _: &mut Context<Self>) -> Running {
        tracing::info!(who = %self.who(), error = %err, "write failed; closing");
        if !matches!(self.state, State::Closing) {
            self.closed("write_error");
        }
        Running::Stop
    }
}

impl<A: Adapter> Handler<ToLink> for Link<A> {
    type Result = ();

    fn handle(&mut self, msg: ToLink, ctx: &mut Context<Self>) {
        match msg {
            ToLink::Command(cmd) => self.command(cmd, ctx),
            ToLink::Close(reason) => {
                tracing::info!(who = %self.who(), reason, "closing the connection");
                self.close(ctx, reason);
            }
        }
    }
}
