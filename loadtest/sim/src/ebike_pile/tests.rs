//! The simulated e-bike pile against a platform side built with the
//! platform's own codec (`proto::dny`): two readings of the V8.6 guide
//! written apart, checking each other.

use chrono::DateTime;
use futures::{SinkExt, StreamExt};
use proto::dny::{
    fee_mode, Ack, Adjust, CardReply, ChargingReport, Credit, Down, Empty, Heartbeat, Limits, OrderNo,
    Settlement, StartExtras, StartStop, StartStopReply, StreamCodec, Time, TimeRequest, Unit, Up,
    VoltageLimits,
};
use rust_decimal_macros::dec;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

use super::*;
use crate::ap3000_wire::cmd;

/// The platform's side of a test connection.
type Conn = Framed<TcpStream, StreamCodec>;

const WAIT: Duration = Duration::from_secs(5);
const PHYS: u32 = 0x05A1_B2C3;
/// 2026-03-01 08:00:00 UTC, what the platform tells the pile.
const T0: i64 = 1_772_352_000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config(time_scale: f64) -> EbikeConfig {
    EbikeConfig { time_scale, ..EbikeConfig::new(PHYS) }
}

fn order(text: &str) -> OrderNo {
    OrderNo::from_text(text, "order").unwrap()
}

/// A start of `port` (1-based; the wire's is 0-based).
fn start(port: u8, text: &str, fee_mode: u8, limit: u16) -> StartStop {
    StartStop {
        fee_mode,
        credit: Credit::Balance(dec!(5.00)),
        port: wire(port),
        command: StartStop::START,
        limit,
        order: order(text),
        max_duration: 36000,
        overload_power: dec!(0),
        extras: Some(StartExtras::DEFAULT),
    }
}

/// The platform's side: a bare socket speaking the codec.
struct Platform {
    listener: TcpListener,
    conn: Conn,
    msg: u16,
}

impl Platform {
    /// Starts a pile against a fresh listener and registers it.
    async fn start(cfg: EbikeConfig) -> (Platform, EbikePile) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut pile = EbikePile::connect(listener.local_addr().unwrap(), cfg.clone()).await.unwrap();
        let (socket, _) = listener.accept().await.unwrap();
        let mut platform = Platform { listener, conn: Framed::new(socket, StreamCodec::new()), msg: 0x100 };
        platform.handshake(&mut pile, &cfg, T0).await;
        (platform, pile)
    }

    /// Takes the pile's next connection.
    async fn accept(&mut self) {
        let (socket, _) = tokio::time::timeout(WAIT, self.listener.accept()).await.unwrap().unwrap();
        self.conn = Framed::new(socket, StreamCodec::new());
    }

    /// ICCID, register (accepted), time request (answered with `now`).
    async fn handshake(&mut self, pile: &mut EbikePile, cfg: &EbikeConfig, now: i64) {
        assert_eq!(self.unit().await, Unit::Iccid(cfg.iccid.clone()));
        let Unit::Frame(frame) = self.unit().await else { panic!("expected the register frame") };
        assert_eq!(frame.phys, cfg.phys);
        let Up::Register(reg) = Up::decode(&frame).unwrap() else {
            panic!("expected register, got {frame:?}")
        };
        assert_eq!((reg.ports, reg.firmware, reg.device_type), (cfg.ports, 0x0102, 0x05));
        self.reply(Down::RegisterReply(Ack::OK), frame.msg).await;
        let registered = pile.wait_for(|e| matches!(e, Event::Registered { .. }), WAIT).await;
        assert_eq!(registered, Some(Event::Registered { accepted: true }));
        let (msg, up) = self.recv().await;
        assert_eq!(up, Up::TimeRequest(TimeRequest));
        self.reply(Time { now: DateTime::from_timestamp(now, 0).unwrap() }.into(), msg).await;
    }

    async fn unit(&mut self) -> Unit {
        let item = tokio::time::timeout(WAIT, self.conn.next()).await.expect("nothing in time");
        item.expect("pile hung up").unwrap().unwrap()
    }

    async fn send(&mut self, down: Down) -> u16 {
        self.msg += 1;
        self.reply(down, self.msg).await;
        self.msg
    }

    async fn reply(&mut self, down: Down, msg: u16) {
        self.conn.send(down.encode(PHYS, msg).unwrap()).await.unwrap();
    }

    /// The next frame other than a heartbeat, with its MSG.
    async fn recv(&mut self) -> (u16, Up) {
        loop {
            if let Unit::Frame(frame) = self.unit().await {
                let up = Up::decode(&frame).unwrap();
                if !matches!(up, Up::Heartbeat(_)) {
                    return (frame.msg, up);
                }
            }
        }
    }

    async fn recv_heartbeat(&mut self) -> Heartbeat {
        loop {
            if let Unit::Frame(frame) = self.unit().await {
                if let Up::Heartbeat(hb) = Up::decode(&frame).unwrap() {
                    return hb;
                }
            }
        }
    }

    async fn recv_report(&mut self) -> ChargingReport {
        match self.recv().await {
            (_, Up::ChargingReport(r)) => r,
            other => panic!("expected 0x06, got {other:?}"),
        }
    }

    /// The next settlement, skipping reports, with its MSG.
    async fn recv_settlement(&mut self) -> (u16, Settlement) {
        loop {
            match self.recv().await {
                (msg, Up::Settlement(s)) => return (msg, s),
                (_, Up::ChargingReport(_)) => {}
                other => panic!("expected 0x03, got {other:?}"),
            }
        }
    }

    /// Every frame but heartbeats arriving within `d`.
    async fn collect(&mut self, d: Duration) -> Vec<Up> {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(d, async {
            while let Some(Ok(Ok(unit))) = self.conn.next().await {
                if let Unit::Frame(frame) = unit {
                    let up = Up::decode(&frame).unwrap();
                    if !matches!(up, Up::Heartbeat(_)) {
                        out.push(up);
                    }
                }
            }
        })
        .await;
        out
    }

    /// Plugs `port` in and waits for the heartbeat that shows it (so the
    /// pile has also applied every command sent before).
    async fn plug(&mut self, pile: &EbikePile, port: u8) {
        pile.plug(port, true);
        loop {
            let hb = self.recv_heartbeat().await;
            if hb.ports.get(usize::from(port) - 1) == Some(&state::PLUGGED) {
                return;
            }
        }
    }

    /// Starts a charge and checks the reply and the first report.
    async fn start_charge(&mut self, pile: &mut EbikePile, s: StartStop) -> ChargingReport {
        let (wire_port, order) = (s.port, s.order);
        let msg = self.send(s.into()).await;
        let (reply_msg, up) = self.recv().await;
        assert_eq!(reply_msg, msg);
        let reply = StartStopReply { result: 0, order, port: wire_port, pending: 0 };
        assert_eq!(up, Up::StartStopReply(reply));
        let first = self.recv_report().await;
        assert_eq!((first.port, first.status, first.elapsed, first.energy), (wire_port, 1, 0, dec!(0)));
        assert_eq!((first.order, first.period_energy), (order, Some(0)));
        let (port, order) = (wire_port + 1, order.to_text());
        let ours =
            |e: &Event| matches!(e, Event::Started { port: p, order: o, .. } if *p == port && *o == order);
        let started = pile.wait_for(ours, WAIT).await;
        assert_eq!(started, Some(Event::Started { port, order, accepted: true }));
        first
    }

    /// Acknowledges the settlement that came with `msg` (the 1-byte ack
    /// echoes its MSG).
    async fn ack(&mut self, msg: u16) {
        self.reply(Down::SettlementAck(Ack::OK), msg).await;
    }
}

/// The pile's `Stopped` event for `order`.
async fn stopped(pile: &mut EbikePile, order: &str) -> Event {
    let ours = |e: &Event| matches!(e, Event::Stopped { order: o, .. } if o == order);
    pile.wait_for(ours, WAIT).await.expect("no stop in time")
}

#[test]
fn profiles() {
    let battery = Profile::default();
    assert_eq!(battery.power_at(0), dec!(180));
    assert_eq!(battery.power_at(10_799), dec!(180));
    assert_eq!(battery.power_at(10_800), dec!(180));
    assert_eq!(battery.power_at(10_800 + 1800), dec!(91));
    assert_eq!(battery.power_at(10_800 + 3060), dec!(28.7));
    assert_eq!(battery.power_at(14_400), dec!(2));
    assert_eq!(battery.power_at(u32::MAX), dec!(2));
    let steps = Profile::Steps(vec![(60, dec!(300)), (10, dec!(100))]);
    assert_eq!((steps.power_at(0), steps.power_at(10), steps.power_at(59)), (dec!(0), dec!(100), dec!(100)));
    assert_eq!(steps.power_at(60), dec!(300));
    let no_taper = Profile::Battery { charge_w: dec!(100), cc_secs: 10, taper_secs: 0, trickle_w: dec!(1) };
    assert_eq!((no_taper.power_at(9), no_taper.power_at(10)), (dec!(100), dec!(1)));
}

#[test]
fn bad_configs_are_refused() {
    assert!(EbikeConfig::new(PHYS).step_period().is_ok());
    assert!(EbikeConfig { tick: 0, ..EbikeConfig::new(PHYS) }.step_period().is_err());
    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e12] {
        assert!(config(scale).step_period().is_err(), "{scale}");
    }
    assert_eq!(config(600.0).step_period().unwrap(), Duration::from_secs_f64(1.0 / 600.0));
    assert_eq!(EbikeConfig::new(PHYS).iccid, "89860000000005A1B2C3");
}

/// 150 W for a 600 s time-mode charge: 90 000 Ws = 0.025 kWh, which the
/// 0.01 kWh wire field carries as 0.02.
#[tokio::test]
async fn time_mode_charge_settles_exactly() {
    let (mut platform, mut pile) = Platform::start(config(600.0)).await;
    pile.set_profile(3, Profile::Constant(dec!(150)));
    platform.plug(&pile, 3).await;

    let first = platform.start_charge(&mut pile, start(3, "ORDER0001", fee_mode::TIME, 600)).await;
    let electric = first.electric.unwrap();
    assert_eq!((first.avg_power, electric.voltage, electric.current), (dec!(150), dec!(220.0), dec!(0.682)));
    // 300 s in: 45 000 Ws = 0.0125 kWh, 60/4800 kWh in that period.
    let mid = platform.recv_report().await;
    assert_eq!((mid.status, mid.elapsed, mid.energy), (1, 300, dec!(0.01)));
    assert_eq!((mid.avg_power, mid.max_power, mid.min_power), (dec!(150), dec!(150), dec!(150)));
    assert_eq!(mid.period_energy, Some(60));

    // A report carries only charging, full or float (§3.4.2): a charge
    // that ends otherwise has its settlement next, no last report.
    let (msg, up) = platform.recv().await;
    let Up::Settlement(s) = up else { panic!("expected the settlement, got {up:?}") };
    // Port 3 is 2 on the wire.
    assert_eq!((s.port, s.elapsed, s.energy, s.max_power), (2, 600, dec!(0.02), dec!(150)));
    assert_eq!((s.order.to_text().as_str(), s.stop_reason), ("ORDER0001", stop::PRESET_TIME));
    assert!(s.time.unwrap().timestamp() >= T0 + 600, "the clock starts at the platform's time");
    assert_eq!(
        stopped(&mut pile, "ORDER0001").await,
        Event::Stopped { port: 3, order: "ORDER0001".into(), reason: 3, elapsed: 600, kwh: dec!(0.025) }
    );
    // Not acked: resent, the same frame, 60 simulated seconds later.
    let (resent_msg, resent) = platform.recv_settlement().await;
    assert_eq!((resent_msg, &resent), (msg, &s));

    platform.ack(msg).await;
    assert_eq!(
        pile.wait_for(|e| matches!(e, Event::SettlementAcked { .. }), WAIT).await,
        Some(Event::SettlementAcked { port: 3, order: "ORDER0001".into() })
    );
    // 180 simulated seconds: three resend periods.
    let later = platform.collect(ms(300)).await;
    assert!(later.iter().all(|m| !matches!(m, Up::Settlement(_))), "resent after ack: {later:?}");
    let hb = platform.recv_heartbeat().await;
    assert_eq!(hb.ports[2], state::PLUGGED);
    assert_eq!(hb.ports.len(), 10);
}

/// The default battery (180 W for 3 h, then 178 W of taper over 1 h) in
/// 60 s steps, full under 30 W held for 60 s. Taper step k (k = 0, 1, …,
/// 60 s apart) draws 180 − 178·k/60 W: k = 50 draws 31.67 W, k = 51
/// draws 28.7 W, so the first step under 30 W starts at 10 800 + 3 060 s
/// and the charge is full after it, at 13 920 s. Energy: 180 W ×
/// 10 800 s = 1 944 000 Ws; taper k = 0..=50: 60 × (51 × 180 − 178/60 ×
/// 1 275) = 323 850 Ws; k = 51: 28.7 × 60 = 1 722 Ws; in all 2 269 572 Ws
/// = 0.630 436 7 kWh, 0.63 on the wire.
#[tokio::test]
async fn battery_charge_stops_when_full() {
    let cfg = EbikeConfig { tick: 60, time_scale: 36_000.0, ..EbikeConfig::new(PHYS) };
    let (mut platform, mut pile) = Platform::start(cfg).await;
    platform.plug(&pile, 7).await;
    let extras = StartExtras { full_power_w: 30, full_power_max_min: 1, ..StartExtras::DEFAULT };
    let s = StartStop { extras: Some(extras), ..start(7, "FULL1", fee_mode::TIME, 0) };
    platform.start_charge(&mut pile, s).await;

    let mut reports = Vec::new();
    let (_, settlement) = loop {
        match platform.recv().await {
            (_, Up::ChargingReport(r)) => reports.push(r),
            (msg, Up::Settlement(s)) => break (msg, s),
            other => panic!("unexpected {other:?}"),
        }
    };
    let (last, periodic) = reports.split_last().unwrap();
    assert_eq!(periodic.len(), 13_920 / 300);
    for (i, r) in (1..).zip(periodic) {
        assert_eq!((r.elapsed, r.status), (300 * i, 1));
    }
    // 54 000 Ws: 0.015 kWh, 72/4800 kWh in the period.
    assert_eq!((periodic[0].avg_power, periodic[0].energy), (dec!(180), dec!(0.01)));
    assert_eq!(periodic[0].period_energy, Some(72));
    assert_eq!((last.status, last.elapsed, last.energy), (3, 13_920, dec!(0.63)));
    assert_eq!((last.min_power, last.electric.unwrap().current), (dec!(28.7), dec!(0.130)));
    assert_eq!(
        (settlement.elapsed, settlement.energy, settlement.max_power),
        (13_920, dec!(0.63), dec!(180))
    );
    assert_eq!(settlement.stop_reason, stop::FULL);
    let Event::Stopped { reason, elapsed, kwh, .. } = stopped(&mut pile, "FULL1").await else {
        unreachable!()
    };
    assert_eq!((reason, elapsed), (1, 13_920));
    assert_eq!(kwh.round_dp(7), dec!(0.6304367));
    assert_eq!(platform.recv_heartbeat().await.ports[6], state::FULL);
}

/// A power cut freezes the charge; after restore it carries on with the
/// same order, and a settlement the platform had not acked is resent.
#[tokio::test]
async fn power_cut_resumes_the_charge_and_the_settlement() {
    let cfg = config(600.0);
    let (mut platform, mut pile) = Platform::start(cfg.clone()).await;
    pile.set_profile(3, Profile::Constant(dec!(100)));
    platform.plug(&pile, 3).await;
    platform.start_charge(&mut pile, start(3, "CUT1", fee_mode::TIME, 600)).await;

    tokio::time::sleep(ms(200)).await;
    pile.power_cut();
    assert_eq!(pile.wait_for(|e| *e == Event::Closed, WAIT).await, Some(Event::Closed));
    let frozen = pile.elapsed(3).await.expect("still charging");
    assert!((1..600).contains(&frozen), "{frozen}");
    tokio::time::sleep(ms(200)).await;
    assert_eq!(pile.elapsed(3).await, Some(frozen), "the clock ran while off");
    // Whatever was sent before the cut, then the end of the connection.
    let drained = tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = platform.conn.next().await {} });
    assert!(drained.await.is_ok(), "the connection outlived the power");

    pile.restore();
    platform.accept().await;
    // The pile ignores a second time: its clock was set once.
    platform.handshake(&mut pile, &cfg, T0 + 86_400).await;
    assert_eq!(platform.recv_heartbeat().await.ports[2], state::CHARGING);
    let (_, s) = platform.recv_settlement().await;
    assert_eq!((s.order.to_text().as_str(), s.elapsed, s.stop_reason), ("CUT1", 600, stop::PRESET_TIME));
    assert_eq!(s.energy, dec!(0.01)); // 60 000 Ws = 0.0167 kWh
    let Event::Stopped { order, elapsed, kwh, .. } = stopped(&mut pile, "CUT1").await else { unreachable!() };
    assert_eq!((order.as_str(), elapsed, kwh.round_dp(6)), ("CUT1", 600, dec!(0.016667)));

    // Cut again before acking: the settlement comes back after restore.
    pile.power_cut();
    assert_eq!(pile.wait_for(|e| *e == Event::Closed, WAIT).await, Some(Event::Closed));
    pile.restore();
    platform.accept().await;
    platform.handshake(&mut pile, &cfg, T0).await;
    let (msg, again) = platform.recv_settlement().await;
    assert_eq!(again, s);
    platform.ack(msg).await;
    assert_eq!(
        pile.wait_for(|e| matches!(e, Event::SettlementAcked { .. }), WAIT).await,
        Some(Event::SettlementAcked { port: 3, order: "CUT1".into() })
    );
}

/// 720 W until the rider unplugs 250 s in: 180 000 Ws = 0.05 kWh.
#[tokio::test]
async fn scripted_unplug_stops_at_exactly_that_elapsed() {
    let (mut platform, mut pile) = Platform::start(config(600.0)).await;
    pile.set_profile(3, Profile::Constant(dec!(720)));
    pile.script(3, Script::UnplugAt(250));
    platform.plug(&pile, 3).await;
    let s = StartStop { overload_power: dec!(800), ..start(3, "UNPLUG1", fee_mode::TIME, 600) };
    platform.start_charge(&mut pile, s).await;

    // No last report of a charge that did not end full.
    let (msg, up) = platform.recv().await;
    let Up::Settlement(s) = up else { panic!("expected the settlement, got {up:?}") };
    assert_eq!((s.elapsed, s.energy, s.stop_reason), (250, dec!(0.05), stop::UNPLUGGED));
    assert_eq!(
        stopped(&mut pile, "UNPLUG1").await,
        Event::Stopped { port: 3, order: "UNPLUG1".into(), reason: 5, elapsed: 250, kwh: dec!(0.05) }
    );
    platform.ack(msg).await;

    // Unplugged now: a new start is refused.
    platform.send(start(3, "UNPLUG2", fee_mode::TIME, 600).into()).await;
    let (_, reply) = platform.recv().await;
    assert_eq!(
        reply,
        Up::StartStopReply(StartStopReply { result: 1, order: order("UNPLUG2"), port: 2, pending: 0 })
    );
    assert_eq!(platform.recv_heartbeat().await.ports[2], state::IDLE);
}

/// Energy mode stops at the preset energy; a power step over the
/// overload limit stops with overload. 360 W × 100 s = 0.01 kWh.
#[tokio::test]
async fn energy_limit_and_overload() {
    let (mut platform, mut pile) = Platform::start(config(600.0)).await;
    pile.set_profile(1, Profile::Constant(dec!(360)));
    pile.set_profile(2, Profile::Steps(vec![(0, dec!(100)), (50, dec!(700))]));
    platform.plug(&pile, 1).await;
    platform.plug(&pile, 2).await;
    platform.start_charge(&mut pile, start(1, "E1", fee_mode::ENERGY, 1)).await;
    let s = StartStop { overload_power: dec!(600), ..start(2, "O1", fee_mode::TIME, 0) };
    platform.start_charge(&mut pile, s).await;

    let mut settlements = Vec::new();
    while settlements.len() < 2 {
        settlements.push(platform.recv_settlement().await.1);
    }
    settlements.sort_by_key(|s| s.port);
    let [e, o] = &settlements[..] else { unreachable!() };
    assert_eq!((e.stop_reason, e.elapsed, e.energy), (stop::PRESET_ENERGY, 100, dec!(0.01)));
    // The step from 50 s draws 700 W: over the limit once it ends at 51 s.
    assert_eq!((o.stop_reason, o.elapsed, o.max_power), (stop::OVERLOAD, 51, dec!(700)));
}

/// A go only answers the swipe: the charge waits for the start command.
#[tokio::test]
async fn card_swipe_is_answered_and_starts_nothing_by_itself() {
    let (mut platform, mut pile) = Platform::start(config(600.0)).await;
    platform.plug(&pile, 4).await;
    pile.swipe_card(4, 0x1234_5678);
    let (msg, up) = platform.recv().await;
    let Up::CardSwipe(swipe) = up else { panic!("no swipe: {up:?}") };
    assert_eq!((swipe.card_hex().as_str(), swipe.card_type, swipe.port), ("12345678", 1, 3));
    let credit = Credit::Balance(dec!(25.5));
    let reply = CardReply { card: swipe.card, status: 0, fee_mode: fee_mode::TIME, credit, port: 3 };
    platform.reply(reply.into(), msg).await;
    assert_eq!(
        pile.wait_for(|e| matches!(e, Event::CardReply { .. }), WAIT).await,
        Some(Event::CardReply { card: 0x1234_5678, status: 0, balance: Some(dec!(25.5)) })
    );
    assert_eq!(pile.elapsed(4).await, None);
    platform.start_charge(&mut pile, start(4, "CARD1", fee_mode::TIME, 600)).await;
}

#[tokio::test]
async fn platform_commands() {
    let cfg = config(600.0);
    let (mut platform, mut pile) = Platform::start(cfg.clone()).await;
    pile.set_profile(1, Profile::Constant(dec!(200)));
    platform.plug(&pile, 1).await;

    // Not plugged, then busy.
    platform.send(start(2, "A", fee_mode::TIME, 0).into()).await;
    assert_eq!(
        platform.recv().await.1,
        Up::StartStopReply(StartStopReply { result: 1, order: order("A"), port: 1, pending: 0 })
    );
    let refused = pile.wait_for(|e| matches!(e, Event::Started { .. }), WAIT).await;
    assert_eq!(refused, Some(Event::Started { port: 2, order: "A".into(), accepted: false }));
    platform.start_charge(&mut pile, start(1, "B", fee_mode::TIME, 0)).await;
    platform.send(start(1, "C", fee_mode::TIME, 0).into()).await;
    assert_eq!(
        platform.recv().await.1,
        Up::StartStopReply(StartStopReply { result: 2, order: order("C"), port: 0, pending: 0 })
    );
    // Some steps at 200 W first.
    while pile.elapsed(1).await < Some(10) {
        tokio::time::sleep(ms(5)).await;
    }

    // Adjust (0x8A): end at 300 s.
    let adjust = Adjust { mode: 1, port: 0, value: 300 };
    let msg = platform.send(adjust.into()).await;
    assert_eq!(platform.recv().await, (msg, Up::AdjustReply(Ack::OK)));
    assert_eq!(
        pile.wait_for(|e| matches!(e, Event::Adjusted { .. }), WAIT).await,
        Some(Event::Adjusted { port: 1, mode: 1, value: 300 })
    );
    let (msg, s) = platform.recv_settlement().await;
    assert_eq!((s.order.to_text().as_str(), s.elapsed, s.stop_reason), ("B", 300, stop::PRESET_TIME));
    assert_eq!(s.max_power, dec!(200));
    platform.ack(msg).await;

    // Server stop.
    platform.start_charge(&mut pile, start(1, "D", fee_mode::TIME, 0)).await;
    let stop = StartStop { command: StartStop::STOP, ..start(1, "D", fee_mode::TIME, 0) };
    let msg = platform.send(stop.into()).await;
    assert_eq!(
        platform.recv().await,
        (msg, StartStopReply { result: 0, order: order("D"), port: 0, pending: 0 }.into())
    );
    let (_, s) = platform.recv_settlement().await;
    assert_eq!((s.order.to_text().as_str(), s.stop_reason), ("D", stop::SERVER));
    assert!(matches!(stopped(&mut pile, "D").await, Event::Stopped { reason: 7, .. }));

    // Limits, then a reboot: reply, close, and register again.
    let limits = Limits {
        max_charge_s: 36000,
        overload_power: dec!(600),
        voltage: Some(VoltageLimits { over: dec!(264), under: dec!(176) }),
    };
    let msg = platform.send(limits.into()).await;
    assert_eq!(platform.recv().await, (msg, Up::LimitsReply(Ack::OK)));
    assert_eq!(
        pile.wait_for(|e| matches!(e, Event::LimitsSet(_)), WAIT).await,
        Some(Event::LimitsSet(ap::Limits {
            max_charge_s: 36000,
            overload_power: dec!(600),
            voltage: Some((dec!(264), dec!(176)))
        }))
    );
    let msg = platform.send(Down::Reboot(Empty)).await;
    let (reply_msg, reply) = loop {
        match platform.recv().await {
            (_, Up::Settlement(_)) => {} // D, not acked yet
            other => break other,
        }
    };
    assert_eq!((reply_msg, reply), (msg, Up::RebootReply(Ack::OK)));
    assert_eq!(pile.wait_for(|e| *e == Event::Closed, WAIT).await, Some(Event::Closed));
    platform.accept().await;
    platform.handshake(&mut pile, &cfg, T0).await;
    let (_, again) = platform.recv_settlement().await;
    assert_eq!(again.order, order("D"));
}

#[tokio::test]
async fn refused_register_and_raw_bytes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = EbikeConfig { ports: 2, ..config(600.0) };
    let mut pile = EbikePile::connect(listener.local_addr().unwrap(), cfg.clone()).await.unwrap();
    let (socket, _) = listener.accept().await.unwrap();
    let mut conn = Framed::new(socket, StreamCodec::new());
    let iccid = conn.next().await.unwrap().unwrap().unwrap();
    assert_eq!(iccid, Unit::Iccid(cfg.iccid.clone()));
    let Unit::Frame(register) = conn.next().await.unwrap().unwrap().unwrap() else { panic!() };
    // Nothing is answered before registering.
    pile.send_raw(b"link".to_vec());
    assert_eq!(conn.next().await.unwrap().unwrap().unwrap(), Unit::Keepalive);
    conn.send(Down::Reboot(Empty).encode(PHYS, 9).unwrap()).await.unwrap();
    assert_eq!(pile.next_event().await, Some(Event::Frame { cmd: cmd::REBOOT, body: vec![] }));
    conn.send(Down::RegisterReply(Ack { result: 1 }).encode(PHYS, register.msg).unwrap()).await.unwrap();
    assert_eq!(pile.next_event().await, Some(Event::Registered { accepted: false }));
    assert_eq!(pile.next_event().await, Some(Event::Closed));
    let end = tokio::time::timeout(WAIT, conn.next()).await.unwrap();
    assert!(end.is_none(), "expected EOF, got {end:?}");
}
