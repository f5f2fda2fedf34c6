//! The e-bike ("DNY") adapter: multi-port pile frames in, protocol-neutral
//! events out, and back.
//!
//! A pile names itself by the device id in every frame header, registers
//! instead of logging in, and reports all its ports in one heartbeat. It
//! answers heartbeats, time requests and alarms itself. The start/stop
//! command shares one reply type for both, so the adapter remembers which
//! of its commands each port is answering.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{FixedOffset, SubsecRound};
use engine::alarm::Severity;
use engine::clock::Clock;
use engine::dny::{self, Ack, CodecError, Down, Frame, FrameFault, PortState, StreamCodec, Unit, Up};
use engine::domain::{PortNo, PortStatus, Protocol, SessionId};
use engine::pricing::cents;
use engine::session::StopReason;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::{
    Adapter, CardRefusal, FinalRecord, Inbound, LoginInfo, Maintenance, Out, PileCommand, PileEvent,
    PortReport, PricingKind, Reading, ReplyTo,
};

pub struct Dny {
    phys: Option<u32>,
    msg: u16,
    clock: Clock,
    /// Start commands awaiting their reply: port and order.
    starting: Vec<(u8, String)>,
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

    fn up(&mut self, frame: &Frame, up: Up, out: &mut Out<Frame>) -> Inbound {
        let reply = ReplyTo(frame.msg as u32);
        let ack = |down: Down| down.encode(frame.phys, frame.msg).ok();
        let event = match up {
            Up::Register(m) => {
                self.phys = Some(frame.phys);
                let info = LoginInfo {
                    pile: dny::pile_id(frame.phys),
                    ports: m.ports,
                    firmware: format!("{:04X}", m.firmware),
                };
                PileEvent::Login(info, reply)
            }
            Up::Heartbeat(m) => {
                out.replies.extend(ack(Down::HeartbeatReply(Ack::OK)));
                out.events.push(PileEvent::Supply { voltage: m.voltage });
                out.events.extend(m.ports.iter().enumerate().map(|(i, &state)| {
                    let (port, status) = (PortNo(i as u8 + 1), status(state));
                    let faults = Some(if status == PortStatus::Fault {
                        vec![("port fault", Severity::Major)]
                    } else {
                        vec![]
                    });
                    PileEvent::Port(PortReport { port, status, session: None, reading: None, faults })
                }));
                return Inbound::Ok;
            }
            Up::TimeRequest(_) => {
                // The wire carries whole seconds.
                let now = self.clock.now().trunc_subsecs(0);
                out.replies.extend(ack(Down::Time(dny::Time { now })));
                return Inbound::Ok;
            }
            Up::CardSwipe(m) => {
                PileEvent::CardStart { port: PortNo(m.port), card: format!("{:08X}", m.card), reply }
            }
            Up::StartStopReply(m) => {
                let port = PortNo(m.port);
                let was_start = self.starting.iter().position(|(p, o)| *p == m.port && *o == m.order);
                match was_start {
                    Some(i) => {
                        self.starting.swap_remove(i);
                        let accepted = m.result == 0;
                        let reason = (!accepted)
                            .then(|| StopReason { code: m.result, text: refusal(m.result).into() });
                        PileEvent::StartResult { port, session: SessionId(m.order), accepted, reason }
                    }
                    None => PileEvent::StopResult { port, accepted: m.result == 0 },
                }
            }
            Up::ChargingReport(m) => PileEvent::Port(PortReport {
                port: PortNo(m.port),
                status: status(m.status),
                session: Some(SessionId(m.order)).filter(|s| !s.as_str().is_empty()),
                reading: Some(Reading {
                    kwh: m.energy,
                    voltage: m.voltage,
                    current: m.current,
                    power: m.avg_power,
                    soc: None,
                    elapsed_s: Some(m.elapsed.into()),
                    temperature_c: Some(m.port_temp),
                }),
                faults: None,
            }),
            Up::Settlement(m) => PileEvent::Record(
                FinalRecord {
                    port: PortNo(m.port),
                    session: SessionId(m.order),
                    ended_at: m.ended,
                    kwh: m.energy,
                    elapsed_s: Some(m.elapsed.into()),
                    amount: None,
                    reason: StopReason {
                        code: m.stop_reason,
                        text: dny::stop_reason_text(m.stop_reason).into(),
                    },
                    fault: abnormal_stop(m.stop_reason),
                    card: None,
                    started_offline: None,
                },
                reply,
            ),
            Up::Alarm(m) => {
                out.replies.extend(ack(Down::AlarmAck(Ack::OK)));
                let kind = dny::alarm_text(m.kind);
                PileEvent::Alarm {
                    port: (m.port != 0).then_some(PortNo(m.port)),
                    kind,
                    severity: alarm_severity(m.kind),
                    message: format!("{kind} reported by the pile (value {})", m.value),
                }
            }
            Up::RebootReply(ack) => {
                PileEvent::MaintenanceResult { kind: "reboot", ok: ack.is_ok(), detail: String::new() }
            }
            Up::AdjustReply(_) | Up::LimitsReply(_) => return Inbound::Ok,
            Up::Other { .. } => return Inbound::Unhandled,
        };
        out.events.push(event);
        Inbound::Ok
    }
}

fn status(code: u8) -> PortStatus {
    match PortState::from(code) {
        PortState::Idle => PortStatus::Idle,
        PortState::Charging => PortStatus::Charging,
        PortState::Plugged => PortStatus::Plugged,
        PortState::Full | PortState::FloatCharge => PortStatus::Full,
        // A state the platform cannot read is not one to start a charge in.
        PortState::Fault(_) | PortState::Unknown(_) => PortStatus::Fault,
    }
}

/// E-bike piles take the time from the platform when they ask, and have no
/// work parameters, firmware frames of this kind, or QR screens: only reboot.
pub fn check_maintenance(m: &Maintenance) -> Result<(), String> {
    match m {
        Maintenance::Reboot { .. } => Ok(()),
        other => Err(format!("e-bike piles do not take {}", other.kind())),
    }
}

/// Water, smoke and heat at an e-bike pile may be a fire.
fn alarm_severity(kind: u8) -> Severity {
    match kind {
        2..=4 => Severity::Critical,
        6 | 7 => Severity::Major,
        _ => Severity::Warning,
    }
}

/// Stops that mean something is wrong at the port or the supply.
fn abnormal_stop(reason: u8) -> Option<Severity> {
    match reason {
        0x0A | 0x0B => Some(Severity::Critical),
        0x0C | 0x1A | 0x1B => Some(Severity::Major),
        0x06 | 0x08 => Some(Severity::Warning),
        _ => None,
    }
}

fn refusal(result: u8) -> &'static str {
    match result {
        1 => "port not plugged in",
        2 => "port busy",
        3 => "port fault",
        _ => "refused by the pile",
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

    fn outbound(&mut self, command: PileCommand, out: &mut Vec<Frame>) {
        // E-bike piles limit power port by port.
        if let PileCommand::PowerLimit { limits, .. } = command {
            for (port, session, watts) in limits {
                let order = session.map(|s| s.0).unwrap_or_default();
                // 0 W means "unchanged" on the wire: hold a port with no share at 1 W.
                let power_limit = watts.round_dp(1).max(Decimal::ONE);
                let m = dny::Adjust { port: port.0, order, duration: 0, power_limit };
                let msg = self.next_msg();
                out.extend(self.frame(Down::Adjust(m), msg));
            }
            return;
        }
        out.extend(self.command(command));
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

impl Dny {
    fn command(&mut self, command: PileCommand) -> Option<Frame> {
        let (down, msg) = match command {
            PileCommand::LoginReply { accepted, reply } => {
                (Down::RegisterReply(Ack { result: u8::from(!accepted) }), reply.0 as u16)
            }
            PileCommand::StartCharge { port, session, order } => {
                // 0 is "no limit" on the wire: a limit that came to nothing
                // (refused at start) must still never be sent as one.
                let seconds = order.limit.seconds.map_or(0, |s| s.clamp(1, u16::MAX.into()) as u16);
                let (fee_mode, limit) = match order.pricing {
                    PricingKind::Time => (0, seconds),
                    PricingKind::PowerTiers => (2, seconds),
                    PricingKind::Energy | PricingKind::TimeOfUse => (
                        1,
                        order
                            .limit
                            .kwh
                            .map_or(0, |k| (k * Decimal::from(100)).to_u16().unwrap_or(u16::MAX).max(1)),
                    ),
                };
                self.starting.retain(|(p, _)| *p != port.0);
                self.starting.push((port.0, session.0.clone()));
                let m = dny::StartStop {
                    fee_mode,
                    balance: cents(order.balance),
                    port: port.0,
                    command: 1,
                    limit,
                    order: session.0,
                    max_duration: order.max_duration_s.min(u16::MAX.into()) as u16,
                    overload_power: order.overload_w,
                    full_power: order.full_power_w,
                    full_hold: order.full_hold_s,
                };
                (Down::StartStop(m), self.next_msg())
            }
            // Go (the start command itself follows or went ahead) or no-go.
            PileCommand::CardVerdict { card, verdict, reply, .. } => {
                let (result, balance) = match verdict {
                    Ok(balance) => (dny::CardReply::GO, cents(balance)),
                    Err(CardRefusal::BalanceTooLow) => (dny::CardReply::BALANCE_TOO_LOW, Decimal::ZERO),
                    Err(CardRefusal::Frozen) => (dny::CardReply::FROZEN, Decimal::ZERO),
                    Err(_) => (dny::CardReply::UNKNOWN_CARD, Decimal::ZERO),
                };
                let card = u32::from_str_radix(&card, 16).unwrap_or(0);
                (Down::CardReply(dny::CardReply { card, result, balance }), reply.0 as u16)
            }
            PileCommand::StopCharge { port, session } => {
                let m = dny::StartStop {
                    fee_mode: 0,
                    balance: Decimal::ZERO,
                    port: port.0,
                    command: 0,
                    limit: 0,
                    order: session.0,
                    max_duration: 0,
                    overload_power: Decimal::ZERO,
                    full_power: Decimal::ZERO,
                    full_hold: 0,
                };
                (Down::StartStop(m), self.next_msg())
            }
            PileCommand::Adjust { port, session, limit_s } => {
                let m = dny::Adjust {
                    port: port.0,
                    order: session.0,
                    duration: limit_s.clamp(1, u16::MAX.into()) as u16,
                    power_limit: Decimal::ZERO,
                };
                (Down::Adjust(m), self.next_msg())
            }
            PileCommand::AckRecord { port, session, accepted, reply } => {
                let m = dny::SettlementAck { port: port.0, order: session.0, result: u8::from(!accepted) };
                (Down::SettlementAck(m), reply.0 as u16)
            }
            PileCommand::Maintain(Maintenance::Reboot { .. }) => (Down::Reboot(dny::Reboot), self.next_msg()),
            PileCommand::Maintain(_) => return None,
            PileCommand::Protections(p) => {
                let limits = dny::Limits {
                    max_charge_s: p.max_duration_s.min(36_000) as u16,
                    port_overload: p.port_overload_w,
                    unit_overload: p.pile_overload_w.round(),
                    over_voltage: p.over_voltage_v,
                    under_voltage: p.under_voltage_v,
                    full_power: p.full_power_w,
                };
                (Down::Limits(limits), self.next_msg())
            }
            // E-bike piles keep no tariff of their own; power limits go above.
            // E-bike charges run to their prepaid limit; a top-up does not
            // move it.
            PileCommand::TariffCheckReply { .. }
            | PileCommand::BalanceUpdate { .. }
            | PileCommand::Tariff { .. }
            | PileCommand::PushTariff { .. }
            | PileCommand::PowerLimit { .. } => return None,
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
    use super::*;

    #[test]
    fn order_numbers_are_sixteen_digits_unique_and_rising() {
        let ids: Vec<_> = (0..10_000).map(|_| session_id()).collect();
        assert!(ids.iter().all(|s| s.as_str().len() == 16 && s.as_str().bytes().all(|b| b.is_ascii_digit())));
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "not rising");
    }

    #[test]
    fn port_states_map_to_what_the_platform_shows() {
        assert_eq!(status(0), PortStatus::Idle);
        assert_eq!(status(1), PortStatus::Charging);
        assert_eq!(status(2), PortStatus::Plugged);
        assert_eq!(status(3), PortStatus::Full);
        assert_eq!(status(5), PortStatus::Full);
        assert_eq!(status(7), PortStatus::Fault);
        assert_eq!(status(4), PortStatus::Fault);
    }
}
