//! The e-bike ("DNY", AP3000 V8.6) adapter: multi-port pile frames in,
//! protocol-neutral events out, and back.
//!
//! A pile names itself by the device id in every frame header, registers
//! instead of logging in, and reports all its ports in one heartbeat. It
//! answers heartbeats and time requests itself. The start/stop command
//! shares one reply type for both, so the adapter remembers which of its
//! commands each port is answering. Ports are 0-based on the wire and
//! 1-based here: `port_no` and `wire_port` are the only crossings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{FixedOffset, SubsecRound};
use domain::pricing::cents;
use domain::session::StopReason;
use proto::dny::codes::{alarm_kind, card_status, port_state, start_result, stop_reason};
use proto::dny::{
    self, fee_mode, origin, Ack, CodecError, Credit, Down, Empty, Frame, FrameFault, OrderNo, StartExtras,
    StreamCodec, Unit, Up,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use vocab::{Clock, PortNo, Protocol, SessionId};

use super::{
    Adapter, CardRefusal, FinalRecord, Inbound, LoginInfo, Maintenance, Out, PileCommand, PileEvent,
    PortReport, PricingKind, Reading, ReplyTo,
};

/// The platform's port of a wire port (0x00 = port 1, spec §4.2).
fn port_no(wire: u8) -> PortNo {
    PortNo(wire.saturating_add(1))
}

/// The wire port of a platform port; `None` for port 0, which no pile has.
fn wire_port(port: PortNo) -> Option<u8> {
    port.0.checked_sub(1)
}

pub struct Dny {
    phys: Option<u32>,
    msg: u16,
    clock: Clock,
    /// Start commands awaiting their reply: wire port and order.
    starting: Vec<(u8, OrderNo)>,
}

impl Dny {
    fn next_msg(&mut self) -> u16 {
        self.msg = self.msg.wrapping_add(1);
        self.msg
    }

    fn frame(&self, down: Down, msg: u16) -> Option<Frame> {
        let phys = self.phys?;
        match down.encode(phys, msg) {
            Ok(frame) => Some(frame),
            Err(e) => {
                tracing::error!(error = %e, "command cannot be encoded for an e-bike pile");
                None
            }
        }
    }

    /// Every port of a heartbeat, port 1 first.
    fn port_states(states: impl Iterator<Item = u8>, out: &mut Out<Frame>) {
        out.events.extend(states.enumerate().map(|(i, code)| {
            let (status, fault) = port_state::heartbeat(code);
            let name =
                dny::codes::find(&port_state::HEARTBEAT, code).map_or("unknown port state", |r| r.name);
            let faults = Some(fault.map(|severity| vec![(name, severity)]).unwrap_or_default());
            let port = PortNo(u8::try_from(i + 1).unwrap_or(u8::MAX));
            PileEvent::Port(PortReport { port, status, session: None, reading: None, faults })
        }));
    }

    fn up(&mut self, frame: &Frame, up: Up, out: &mut Out<Frame>) -> Inbound {
        let reply = ReplyTo(frame.msg as u32);
        let ack = |down: Down| down.encode(frame.phys, frame.msg).ok();
        let event = match up {
            Up::Register(m) => {
                self.phys = Some(frame.phys);
                let info =
                    LoginInfo { pile: dny::pile_id(frame.phys), ports: m.ports, firmware: m.firmware_text() };
                PileEvent::Login(info, reply)
            }
            Up::Heartbeat(m) => {
                out.replies.extend(ack(Down::HeartbeatReply(Ack::OK)));
                out.events.push(PileEvent::Supply { voltage: m.voltage });
                Self::port_states(m.ports.into_iter(), out);
                return Inbound::Ok;
            }
            // Older firmware's heartbeat: unanswered three times, it stops.
            Up::OldHeartbeat(m) => {
                out.replies.extend(ack(Down::OldHeartbeatReply(Ack::OK)));
                out.events.push(PileEvent::Supply { voltage: m.voltage });
                Self::port_states(m.ports.iter().map(|p| p.status), out);
                return Inbound::Ok;
            }
            Up::TimeRequest(_) => {
                // The wire carries whole seconds.
                let now = self.clock.now().trunc_subsecs(0);
                out.replies.extend(ack(Down::Time(dny::Time { now })));
                return Inbound::Ok;
            }
            Up::CardSwipe(m) if m.port == dny::QUERY_PORT => {
                PileEvent::BalanceQuery { card: m.card_hex(), reply }
            }
            Up::CardSwipe(m) => PileEvent::CardStart { port: port_no(m.port), card: m.card_hex(), reply },
            Up::StartStopReply(m) => {
                let port = port_no(m.port);
                let was_start = self.starting.iter().position(|(p, o)| *p == m.port && *o == m.order);
                match was_start {
                    Some(i) => {
                        self.starting.swap_remove(i);
                        let accepted = start_result::executed(m.result);
                        let reason = (m.result != start_result::DONE).then(|| StopReason {
                            code: m.result,
                            text: start_result::text(m.result).into(),
                        });
                        PileEvent::StartResult {
                            port,
                            session: SessionId(m.order.to_text()),
                            accepted,
                            reason,
                        }
                    }
                    // Already stopped is as good as stopped.
                    None => PileEvent::StopResult {
                        port,
                        accepted: matches!(m.result, start_result::DONE | start_result::SAME_STATE),
                    },
                }
            }
            Up::ChargingReport(m) => {
                // Status values outside §3.4.2's list are errors to ignore.
                let Some(status) = port_state::report(m.status) else { return Inbound::Ok };
                let electric =
                    m.electric.unwrap_or(dny::Electric { voltage: Decimal::ZERO, current: Decimal::ZERO });
                PileEvent::Port(PortReport {
                    port: port_no(m.port),
                    status,
                    session: (!m.order.is_empty()).then(|| SessionId(m.order.to_text())),
                    reading: Some(Reading {
                        kwh: m.energy,
                        voltage: electric.voltage,
                        current: electric.current,
                        power: m.avg_power,
                        soc: None,
                        elapsed_s: Some(m.elapsed.into()),
                        temperature_c: m.temperatures.and_then(|(_, port)| port),
                        register_kwh: None,
                        at: None,
                    }),
                    faults: None,
                })
            }
            Up::Settlement(m) => {
                // The pile sends it 2 s after the charge ends, and its own
                // clock is "sometimes inaccurate" (§3.3): receipt is the end.
                let ended_at = self.clock.now().trunc_subsecs(0);
                let started_offline =
                    (!m.started_online()).then(|| ended_at - chrono::Duration::seconds(m.elapsed.into()));
                PileEvent::Record(
                    FinalRecord {
                        port: port_no(m.port),
                        session: SessionId(m.order.to_text()),
                        ended_at,
                        kwh: m.energy,
                        elapsed_s: Some(m.elapsed.into()),
                        amount: None,
                        reason: StopReason {
                            code: m.stop_reason,
                            text: stop_reason::text(m.stop_reason).into(),
                        },
                        fault: stop_reason::fault(m.stop_reason),
                        card: (m.origin == origin::OFFLINE_CARD).then(|| m.card_hex()),
                        started_offline,
                        register_kwh: None,
                    },
                    reply,
                )
            }
            // Not answered (§3.4.5).
            Up::Alarm(m) => {
                let kind = alarm_kind::text(m.kind);
                PileEvent::Alarm {
                    port: (m.kind == alarm_kind::HOT_MELT).then(|| port_no(m.port)),
                    kind,
                    severity: alarm_kind::severity(m.kind),
                    message: format!(
                        "{kind} reported by the pile (port/address 0x{:02X}, inputs 0x{:02X})",
                        m.port, m.trigger
                    ),
                }
            }
            Up::RebootReply(ack) => PileEvent::MaintenanceResult {
                kind: "reboot",
                ok: ack.is_ok(),
                detail: String::new(),
                answer: None,
            },
            Up::AdjustReply(_) | Up::LimitsReply(_) => return Inbound::Ok,
            Up::Other { .. } => return Inbound::Unhandled,
        };
        out.events.push(event);
        Inbound::Ok
    }
}

/// E-bike piles take the time from the platform when they ask and have no
/// work parameters, firmware frames of this kind, or QR screens: reboot,
/// and a refresh (0x81 makes the pile report every port).
pub fn check_maintenance(m: &Maintenance) -> Result<(), String> {
    match m {
        Maintenance::Reboot { .. } | Maintenance::Refresh { .. } => Ok(()),
        other => Err(format!("e-bike piles do not take {}", other.kind())),
    }
}

/// The account status a refusal plays to the driver (§3.2).
fn card_refusal(why: CardRefusal) -> u8 {
    match why {
        CardRefusal::Unknown | CardRefusal::Frozen => card_status::NOT_REGISTERED,
        CardRefusal::BalanceTooLow => card_status::BALANCE_TOO_LOW,
        // "Do not charge twice".
        CardRefusal::Unsettled => card_status::REPEAT,
        CardRefusal::NotAllowedHere => card_status::OTHER_ACCOUNT,
        CardRefusal::Busy | CardRefusal::CapacityShort | CardRefusal::Unavailable => card_status::PORT_FAULT,
    }
}

impl Adapter for Dny {
    type Frame = Frame;
    type DecodeItem = Result<Unit, FrameFault>;
    type Fatal = CodecError;
    type Codec = StreamCodec;

    const PROTOCOL: Protocol = Protocol::Dny;

    fn new(clock: Clock) -> Self {
        Dny { phys: None, msg: 0, clock, starting: Vec::new() }
    }

    fn codec() -> StreamCodec {
        StreamCodec::new()
    }

    /// DNY times are Unix seconds: no local clock to read.
    fn set_utc_offset(&mut self, _: FixedOffset) {}

    fn inbound(&mut self, item: Result<Unit, FrameFault>, out: &mut Out<Frame>) -> Inbound {
        let frame = match item {
            Ok(Unit::Frame(frame)) => frame,
            // The ICCID on connect and `link` after 30 s of quiet (§1.04)
            // only keep the link alive; neither is answered.
            Ok(Unit::Iccid(_) | Unit::Keepalive) => return Inbound::Ok,
            Err(fault) => return Inbound::Fault(fault.kind_label()),
        };
        if self.phys.is_some_and(|p| p != frame.phys) {
            return Inbound::Fault("wrong_device");
        }
        match Up::decode(&frame) {
            Ok(up) => self.up(&frame, up, out),
            Err(e) => Inbound::Fault(e.kind_label()),
        }
    }

    fn outbound(&mut self, command: PileCommand, out: &mut Out<Frame>) {
        let out = &mut out.replies;
        out.extend(self.command(command));
    }

    /// §1.0.3: commands (0x80 and up) are spaced and resent; the answer
    /// repeats the command byte and the message id.
    fn awaits_answer(frame: &Frame) -> Option<u32> {
        (frame.cmd >= 0x80).then(|| answer_key(frame))
    }

    fn answers(item: &Result<Unit, FrameFault>) -> Option<u32> {
        match item {
            Ok(Unit::Frame(f)) if f.cmd >= 0x80 => Some(answer_key(f)),
            _ => None,
        }
    }

    fn item_type(item: &Result<Unit, FrameFault>) -> Option<u8> {
        match item {
            Ok(Unit::Frame(f)) => Some(f.cmd),
            _ => None,
        }
    }

    fn frame_type(frame: &Frame) -> u8 {
        frame.cmd
    }

    fn fatal_label(error: &CodecError) -> &'static str {
        error.kind_label()
    }
}

fn answer_key(frame: &Frame) -> u32 {
    u32::from(frame.cmd) << 16 | u32::from(frame.msg)
}

/// The fee mode and limit of a start (§4.2): seconds in time mode, 0.01 kWh
/// in energy mode, 0 = until full.
fn fee_and_limit(order: &super::Order) -> (u8, u16) {
    // 0 is "no limit" on the wire: a limit that came to nothing (refused at
    // start) must still never be sent as one.
    let seconds = order.limit.seconds.map_or(0, |s| s.clamp(1, u16::MAX.into()) as u16);
    match order.pricing {
        PricingKind::Time | PricingKind::PowerTiers => (fee_mode::TIME, seconds),
        PricingKind::Energy | PricingKind::TimeOfUse => (
            fee_mode::ENERGY,
            order.limit.kwh.map_or(0, |k| (k * Decimal::from(100)).to_u16().unwrap_or(u16::MAX).max(1)),
        ),
    }
}

/// The V8.6 fields of a start: the spec's defaults, with the short-circuit
/// check on, a timed charge also stopping when full, and the full-power
/// check as configured (whole watts; its judging time in minutes).
fn start_extras(order: &super::Order) -> StartExtras {
    StartExtras {
        force_full_stop: 1,
        full_power_w: order.full_power_w.round().to_u8().unwrap_or(0).min(254),
        full_power_max_min: order.full_hold_s.div_ceil(60),
        ..StartExtras::DEFAULT
    }
}

impl Dny {
    fn command(&mut self, command: PileCommand) -> Option<Frame> {
        let order_no = |session: &SessionId| match OrderNo::from_text(session.as_str(), "order") {
            Ok(o) => Some(o),
            Err(e) => {
                tracing::error!(error = %e, "session id cannot be an e-bike order number");
                None
            }
        };
        let (down, msg) = match command {
            PileCommand::LoginReply { accepted, reply } => {
                (Down::RegisterReply(Ack { result: u8::from(!accepted) }), reply.0 as u16)
            }
            PileCommand::StartCharge { port, session, order } => {
                let (wire, order_no) = (wire_port(port)?, order_no(&session)?);
                let (fee_mode, limit) = fee_and_limit(&order);
                self.starting.retain(|(p, _)| *p != wire);
                self.starting.push((wire, order_no));
                let m = dny::StartStop {
                    fee_mode,
                    credit: Credit::Balance(cents(order.balance).max(Decimal::ZERO)),
                    port: wire,
                    command: dny::StartStop::START,
                    limit,
                    order: order_no,
                    max_duration: order.max_duration_s.min(u16::MAX.into()) as u16,
                    overload_power: order.overload_w.round_dp(1),
                    extras: Some(start_extras(&order)),
                };
                (Down::StartStop(m), self.next_msg())
            }
            // Go (the start command itself follows) or no-go.
            PileCommand::CardVerdict { port, card, verdict, reply } => {
                let (status, balance) = match verdict {
                    Ok(balance) => (card_status::OK, cents(balance).max(Decimal::ZERO)),
                    Err(why) => (card_refusal(why), Decimal::ZERO),
                };
                let uid = u32::from_str_radix(&card, 16).unwrap_or(0).to_be_bytes();
                let m = dny::CardReply {
                    card: uid,
                    status,
                    fee_mode: fee_mode::TIME,
                    credit: Credit::Balance(balance),
                    port: wire_port(port)?,
                };
                (Down::CardReply(m), reply.0 as u16)
            }
            // §3.2: the reply echoes port 0xFF and the pile speaks the balance.
            PileCommand::CardBalance { card, balance, reply } => {
                let (status, balance) = match balance {
                    Ok(balance) => (card_status::OK, cents(balance).max(Decimal::ZERO)),
                    Err(why) => (card_refusal(why), Decimal::ZERO),
                };
                let m = dny::CardReply {
                    card: u32::from_str_radix(&card, 16).unwrap_or(0).to_be_bytes(),
                    status,
                    fee_mode: fee_mode::TIME,
                    credit: Credit::Balance(balance),
                    port: dny::QUERY_PORT,
                };
                (Down::CardReply(m), reply.0 as u16)
            }
            PileCommand::StopCharge { port, session } => {
                let m = dny::StartStop {
                    fee_mode: fee_mode::TIME,
                    credit: Credit::Balance(Decimal::ZERO),
                    port: wire_port(port)?,
                    command: dny::StartStop::STOP,
                    limit: 0,
                    order: order_no(&session)?,
                    max_duration: 0,
                    overload_power: Decimal::ZERO,
                    extras: Some(StartExtras::DEFAULT),
                };
                (Down::StartStop(m), self.next_msg())
            }
            PileCommand::Adjust { port, limit_s, .. } => {
                let m = dny::Adjust {
                    mode: dny::Adjust::TIMED_UNTIL_FULL,
                    port: wire_port(port)?,
                    value: limit_s.clamp(1, u16::MAX.into()) as u16,
                };
                (Down::Adjust(m), self.next_msg())
            }
            // The pile deletes a settlement on any answer and the spec gives
            // no refusal code (§3.3): one the platform cannot place is still
            // answered 0, or the pile resends it every 30 minutes for ever.
            PileCommand::AckRecord { reply, .. } => (Down::SettlementAck(Ack::OK), reply.0 as u16),
            PileCommand::Maintain(Maintenance::Reboot { .. }) => (Down::Reboot(Empty), self.next_msg()),
            PileCommand::Maintain(Maintenance::Refresh { .. }) => (Down::Query(Empty), self.next_msg()),
            PileCommand::Maintain(_) => return None,
            PileCommand::Protections(p) => {
                let limits = dny::Limits {
                    max_charge_s: p.max_duration_s.min(u16::MAX.into()) as u16,
                    overload_power: p.port_overload_w.round_dp(1),
                    voltage: Some(dny::VoltageLimits {
                        over: p.over_voltage_v.round_dp(1),
                        under: p.under_voltage_v.round_dp(1),
                    }),
                };
                (Down::Limits(limits), self.next_msg())
            }
            // V8.6 has no command to change a running charge's power (0x82's
            // overload power is set at start, 0x85's is stored for all ports).
            // E-bike piles keep no tariff of their own, and charges run to
            // their prepaid limit; a top-up does not move it.
            PileCommand::PowerLimit { .. }
            | PileCommand::TariffCheckReply { .. }
            | PileCommand::BalanceUpdate { .. }
            | PileCommand::Tariff { .. }
            | PileCommand::PushTariff { .. }
            | PileCommand::PortService { .. } => return None,
        };
        self.frame(down, msg)
    }
}

/// An order number: 16 digits, unique across the platform and rising with
/// time (milliseconds since 2020 and a per-millisecond counter), because the
/// pile's order field holds 16 characters.
pub fn session_id() -> SessionId {
    static LAST: AtomicU64 = AtomicU64::new(0);
    const EPOCH_MS: u64 = 1_577_836_800_000;
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let now = ms.saturating_sub(EPOCH_MS) << 12;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = (last + 1).max(now);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return SessionId(format!("{next:016}")),
            Err(seen) => last = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use domain::pricing::Limit;
    use rust_decimal_macros::dec;
    use vocab::Severity;

    use super::*;
    use crate::adapter::Order;

    const PHYS: u32 = 0x04AB_373B;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_352_000, 0).unwrap()
    }

    /// A registered adapter on a stopped clock.
    fn adapter() -> Dny {
        let mut a = Dny::new(Clock::simulated(t0(), 0.0));
        let reg = dny::Register {
            firmware: 126,
            ports: 10,
            virtual_id: 0,
            device_type: 5,
            work_mode: 0,
            power_board: 0,
        };
        let out = feed(&mut a, Up::Register(reg), 1);
        assert!(matches!(&out.events[..], [PileEvent::Login(info, _)] if info.firmware == "V1.26"));
        a
    }

    fn feed(a: &mut Dny, up: Up, msg: u16) -> Out<Frame> {
        let mut out = Out::default();
        assert_eq!(a.inbound(Ok(Unit::Frame(up.encode(PHYS, msg).unwrap())), &mut out), Inbound::Ok);
        out
    }

    fn send(a: &mut Dny, command: PileCommand) -> Down {
        let mut out = Out::default();
        a.outbound(command, &mut out);
        let out = out.replies;
        let [frame] = &out[..] else { panic!("expected one frame, got {out:?}") };
        Down::decode(frame).unwrap()
    }

    fn order(pricing: PricingKind, limit: Limit) -> Order {
        Order {
            balance: dec!(5.00),
            pricing,
            limit,
            max_duration_s: 36000,
            overload_w: dec!(600),
            full_power_w: dec!(20),
            full_hold_s: 180,
            card: None,
        }
    }

    #[test]
    fn start_goes_out_in_the_v8_6_form_with_a_zero_based_port() {
        let mut a = adapter();
        let session = SessionId("2603010830000042".into());
        let limit = Limit { seconds: None, kwh: Some(dec!(1.5)) };
        let command =
            PileCommand::StartCharge { port: PortNo(10), session, order: order(PricingKind::Energy, limit) };
        let Down::StartStop(m) = send(&mut a, command) else { panic!() };
        assert_eq!((m.port, m.command, m.fee_mode, m.limit), (9, 1, fee_mode::ENERGY, 150));
        assert_eq!(m.credit, Credit::Balance(dec!(5.00)));
        let x = m.extras.unwrap();
        assert_eq!(
            (x.short_circuit_check, x.force_full_stop, x.full_power_w, x.full_power_max_min),
            (2, 1, 20, 3)
        );
        // The pile's reply names the wire port and the order.
        let reply = dny::StartStopReply { result: 0, order: m.order, port: 9, pending: 0 };
        let out = feed(&mut a, Up::StartStopReply(reply), 7);
        assert!(matches!(
            &out.events[..],
            [PileEvent::StartResult { port: PortNo(10), accepted: true, reason: None, session }]
                if session.as_str() == "2603010830000042"
        ));
        let time = Limit { seconds: Some(600), kwh: None };
        let command = PileCommand::StartCharge {
            port: PortNo(1),
            session: SessionId("x".into()),
            order: order(PricingKind::Time, time),
        };
        let Down::StartStop(m) = send(&mut a, command) else { panic!() };
        assert_eq!((m.port, m.fee_mode, m.limit), (0, fee_mode::TIME, 600));
    }

    #[test]
    fn a_refused_start_says_why_and_a_fault_start_still_ran() {
        let mut a = adapter();
        for (result, accepted) in [(1, false), (3, true), (0x0B, false)] {
            let session = SessionId("S1".into());
            let command = PileCommand::StartCharge {
                port: PortNo(2),
                session,
                order: order(PricingKind::Time, Limit { seconds: Some(60), kwh: None }),
            };
            let Down::StartStop(m) = send(&mut a, command) else { panic!() };
            let out = feed(
                &mut a,
                Up::StartStopReply(dny::StartStopReply { result, order: m.order, port: 1, pending: 0 }),
                2,
            );
            let [PileEvent::StartResult { accepted: got, reason: Some(reason), .. }] = &out.events[..] else {
                panic!("{:?}", out.events)
            };
            assert_eq!(
                (*got, reason.code, reason.text.as_str()),
                (accepted, result, start_result::text(result))
            );
        }
    }

    #[test]
    fn a_binary_offline_settlement_is_billed_as_an_offline_card_charge() {
        let mut a = adapter();
        let order = OrderNo([0x26, 0x03, 0x01, 0x07, 0x50, 0, 0x7A, 0x8D, 0x05, 0xDD, 0, 0, 0, 0, 0, 32]);
        let m = dny::Settlement {
            elapsed: 600,
            max_power: dec!(150),
            energy: dec!(0.05),
            port: 2,
            origin: origin::OFFLINE_CARD,
            card: [0x7A, 0x8D, 0x05, 0xDD],
            stop_reason: 0x01,
            order,
            second_max_power: Some(dec!(140)),
            time: None,
            occupied_min: None,
        };
        let out = feed(&mut a, Up::Settlement(m), 0x33);
        let [PileEvent::Record(r, reply)] = &out.events[..] else { panic!("{:?}", out.events) };
        assert_eq!(r.port, PortNo(3));
        assert_eq!(r.session.as_str(), "2603010750007A8D05DD000000000020");
        assert_eq!(r.card.as_deref(), Some("7A8D05DD"));
        assert_eq!(r.started_offline, Some(t0() - chrono::Duration::seconds(600)));
        assert_eq!((r.ended_at, r.kwh, r.reason.text.as_str(), r.fault), (t0(), dec!(0.05), "full", None));
        // Acked with the spec's one byte, 0, even if the platform refuses it.
        for accepted in [true, false] {
            let ack =
                PileCommand::AckRecord { port: r.port, session: r.session.clone(), accepted, reply: *reply };
            let mut out = Out::default();
            a.outbound(ack, &mut out);
            let frames = out.replies;
            assert_eq!((frames[0].cmd, frames[0].msg, &frames[0].data[..]), (0x03, 0x33, &[0u8][..]));
        }
        // The session id goes back to the same bytes.
        assert_eq!(OrderNo::from_text(r.session.as_str(), "o"), Ok(order));
    }

    #[test]
    fn an_online_settlement_carries_no_card_and_no_offline_start() {
        let mut a = adapter();
        let m = dny::Settlement {
            elapsed: 60,
            max_power: dec!(0),
            energy: dec!(0),
            port: 0,
            origin: origin::ONLINE,
            card: [0; 4],
            stop_reason: 0x0B,
            order: OrderNo::from_text("2603010830000042", "o").unwrap(),
            second_max_power: None,
            time: None,
            occupied_min: None,
        };
        let out = feed(&mut a, Up::Settlement(m), 1);
        let [PileEvent::Record(r, _)] = &out.events[..] else { panic!() };
        assert_eq!(
            (r.port, r.session.as_str(), &r.card, r.started_offline),
            (PortNo(1), "2603010830000042", &None, None)
        );
        assert_eq!(r.fault, Some(Severity::Critical));
    }

    #[test]
    fn heartbeats_are_answered_and_faults_named() {
        let mut a = adapter();
        let hb = dny::Heartbeat { voltage: dec!(220.0), ports: vec![0, 1, 9], signal: 0, temperature: None };
        let out = feed(&mut a, Up::Heartbeat(hb), 5);
        assert_eq!(Down::decode(&out.replies[0]).unwrap(), Down::HeartbeatReply(Ack::OK));
        let ports: Vec<_> = out
            .events
            .iter()
            .filter_map(|e| match e {
                PileEvent::Port(r) => Some((r.port, r.status, r.faults.clone().unwrap())),
                _ => None,
            })
            .collect();
        assert_eq!(ports[0], (PortNo(1), vocab::PortStatus::Idle, vec![]));
        assert_eq!(ports[1].1, vocab::PortStatus::Charging);
        assert_eq!(
            ports[2],
            (PortNo(3), vocab::PortStatus::Fault, vec![("relay stuck (algorithm)", Severity::Critical)])
        );
    }

    #[test]
    fn alarms_are_not_answered_and_card_replies_use_the_spec_codes() {
        let mut a = adapter();
        let out = feed(&mut a, Up::Alarm(dny::Alarm { kind: 4, port: 0, trigger: 0 }), 9);
        assert!(out.replies.is_empty());
        assert!(matches!(
            &out.events[..],
            [PileEvent::Alarm { kind: "smoke", severity: Severity::Critical, port: None, .. }]
        ));
        let swipe = dny::CardSwipe {
            card: [0x7A, 0x8D, 0x05, 0xDD],
            card_type: 0,
            port: 1,
            card_balance: dec!(0),
            time: None,
            card2: None,
        };
        let out = feed(&mut a, Up::CardSwipe(swipe.clone()), 4);
        let [PileEvent::CardStart { port, card, reply }] = &out.events[..] else { panic!() };
        assert_eq!((*port, card.as_str()), (PortNo(2), "7A8D05DD"));
        let verdict = PileCommand::CardVerdict {
            port: *port,
            card: card.clone(),
            verdict: Err(CardRefusal::BalanceTooLow),
            reply: *reply,
        };
        let Down::CardReply(m) = send(&mut a, verdict) else { panic!() };
        assert_eq!((m.card, m.status, m.port), ([0x7A, 0x8D, 0x05, 0xDD], 0x06, 1));

        // Port 0xFF only asks the balance (§3.2); the reply echoes it.
        let query = dny::CardSwipe { port: dny::QUERY_PORT, card: [0, 0, 0x30, 0x39], ..swipe };
        let out = feed(&mut a, Up::CardSwipe(query), 5);
        let [PileEvent::BalanceQuery { card, reply }] = &out.events[..] else { panic!("{:?}", out.events) };
        let answer =
            PileCommand::CardBalance { card: card.clone(), balance: Ok(dec!(12.345)), reply: *reply };
        let Down::CardReply(m) = send(&mut a, answer) else { panic!() };
        assert_eq!(
            (m.card, m.status, m.port, m.credit),
            ([0, 0, 0x30, 0x39], 0, 0xFF, Credit::Balance(dec!(12.35)))
        );
    }

    #[test]
    fn order_numbers_are_sixteen_digits_unique_and_rising() {
        let ids: Vec<_> = (0..10_000).map(|_| session_id()).collect();
        assert!(ids.iter().all(|s| s.as_str().len() == 16 && s.as_str().bytes().all(|b| b.is_ascii_digit())));
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "not rising");
    }

    #[test]
    fn ports_are_zero_based_on_the_wire() {
        assert_eq!(port_no(0), PortNo(1));
        assert_eq!(port_no(9), PortNo(10));
        assert_eq!(wire_port(PortNo(1)), Some(0));
        assert_eq!(wire_port(PortNo(10)), Some(9));
        assert_eq!(wire_port(PortNo(0)), None);
    }
}
