//! The YKC adapter: YKC frames in, protocol-neutral events out, and back.
//!
//! It answers heartbeats itself, remembers the pile id (every YKC frame
//! carries it) and its own sequence counter, and reads the pile's local
//! clock with the station's offset from UTC.

use std::sync::atomic::{AtomicU16, Ordering};

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Timelike, Utc};
use domain::allocation::ykc_percent;
use domain::session::StopReason;
use domain::tariff::{Period, TouPrices};
use proto::ykc::{self, CodecError, Frame, FrameCodec, FrameFault, GunStatus, Message};
use rust_decimal::Decimal;
use vocab::{PileId, PortNo, PortStatus, Protocol, SessionId};

use super::{
    Adapter, CardRefusal, FinalRecord, Inbound, LoginInfo, Maintenance, Order, Out, PileCommand, PileEvent,
    PortReport, Reading, ReplyTo,
};

pub struct Ykc {
    pile: Option<PileId>,
    seq: u16,
    offset: FixedOffset,
    clock: vocab::Clock,
    /// The gun a real-time data request is waiting on.
    refreshing: Option<u8>,
}

impl Ykc {
    fn next_seq(&mut self) -> u16 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn local_to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        self.offset
            .from_local_datetime(&local)
            .single()
            .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
    }

    fn event(&mut self, frame: &Frame, msg: Message, out: &mut Out<Frame>) -> Inbound {
        let reply = ReplyTo(frame.seq as u32);
        let event = match msg {
            Message::Login(m) => {
                self.pile = Some(m.pile.clone());
                PileEvent::Login(LoginInfo { pile: m.pile, ports: m.guns, firmware: m.firmware }, reply)
            }
            Message::Heartbeat(m) => {
                let answer = Message::HeartbeatReply(ykc::HeartbeatReply { pile: m.pile, gun: m.gun });
                out.replies.extend(answer.encode(frame.seq).ok());
                return Inbound::Ok;
            }
            Message::BillingModelCheck(m) => PileEvent::TariffCheck { model: m.model, reply },
            Message::BillingModelRequest(_) => PileEvent::TariffRequest(reply),
            Message::RealTime(m) => {
                // The answer to a refresh the platform asked for.
                if self.refreshing.take_if(|gun| *gun == m.gun).is_some() {
                    out.events.push(done("refresh", true, String::new()));
                }
                PileEvent::Port(report(&m))
            }
            Message::RemoteStartResult(m) => PileEvent::StartResult {
                port: PortNo(m.gun),
                session: m.serial,
                accepted: m.ok,
                reason: (!m.ok).then(|| StopReason { code: m.reason, text: start_refusal(m.reason).into() }),
            },
            Message::RemoteStopResult(m) => PileEvent::StopResult { port: PortNo(m.gun), accepted: m.ok },
            Message::WorkParamsResult(m) => done("work_params", m.ok, String::new()),
            Message::BalanceUpdateResult(m) => {
                if m.result != ykc::BalanceUpdateResult::OK {
                    tracing::warn!(pile = ?self.pile, result = m.result, "pile refused a balance update");
                }
                return Inbound::Ok;
            }
            Message::OfflineCardSyncResult(m) => {
                let why = if m.ok { String::new() } else { format!("reason {:#04x}", m.reason) };
                done("offline_cards_sync", m.ok, why)
            }
            Message::OfflineCardClearResult(m) => {
                let failed = m.cards.iter().filter(|c| !c.ok).count();
                done("offline_cards_clear", failed == 0, format!("{failed} of {} not removed", m.cards.len()))
            }
            Message::TimeSyncResult(m) => done("time_sync", true, format!("pile clock set to {}", m.time)),
            Message::RebootResult(m) => done("reboot", m.ok, String::new()),
            Message::FirmwareUpgradeResult(m) => {
                done("firmware", m.is_ok(), ykc::FirmwareUpgradeResult::status_text(m.status).into())
            }
            Message::QrPrefixResult(m) => done("qr_prefix", m.ok, String::new()),
            Message::BillingModelPushResult(m) => PileEvent::TariffPushed { ok: m.ok },
            // VINs are not linked to accounts: refused at once with the
            // protocol's reason, so the pile tells the driver.
            Message::CardStart(m) if m.mode == ykc::CardStart::MODE_VIN => {
                let verdict = refusal_verdict(m.pile, m.gun, m.card, ykc::CardStartVerdict::VIN_UNKNOWN);
                out.replies.extend(Message::CardStartVerdict(verdict).encode(frame.seq).ok());
                tracing::info!(pile = ?self.pile, gun = m.gun, "VIN start refused");
                return Inbound::Unhandled;
            }
            Message::CardStart(m) => PileEvent::CardStart {
                port: PortNo(m.gun),
                card: m.card.iter().map(|b| format!("{b:02X}")).collect(),
                reply: ReplyTo(frame.seq.into()),
            },
            Message::TransactionRecord(m) => {
                let (text, fault) = ykc::stop_reason(m.stop_reason);
                PileEvent::Record(
                    FinalRecord {
                        port: PortNo(m.gun),
                        session: m.serial,
                        ended_at: self.local_to_utc(m.end),
                        kwh: m.kwh,
                        elapsed_s: None,
                        amount: Some(m.amount),
                        reason: StopReason { code: m.stop_reason, text: text.into() },
                        fault,
                        card: matches!(
                            m.origin,
                            ykc::TransactionRecord::ORIGIN_CARD | ykc::TransactionRecord::ORIGIN_OFFLINE_CARD
                        )
                        .then(|| m.physical_card.iter().map(|b| format!("{b:02X}")).collect()),
                        started_offline: (m.origin == ykc::TransactionRecord::ORIGIN_OFFLINE_CARD)
                            .then(|| self.local_to_utc(m.start)),
                        register_kwh: None,
                    },
                    reply,
                )
            }
            Message::Bms(m) => PileEvent::Diagnostic {
                port: PortNo(m.gun),
                session: m.serial.0.bytes().any(|b| b != b'0').then_some(m.serial),
                kind: ykc::BmsFrame::kind_name(m.kind).unwrap_or("BMS"),
                data: m.data.iter().map(|b| format!("{b:02X}")).collect(),
            },
            _ => return Inbound::Unhandled,
        };
        out.events.push(event);
        Inbound::Ok
    }
}

fn done(kind: &'static str, ok: bool, detail: String) -> PileEvent {
    PileEvent::MaintenanceResult { kind, ok, detail, answer: None }
}

/// An FTP URL as the firmware frame carries it: a server (IPv4 or host name), port, user,
/// password and path.
fn ftp(url: &str) -> Result<(String, u16, String, String, String), String> {
    let bad = || format!("{url} is not ftp://user:password@host:port/path");
    let rest = url.strip_prefix("ftp://").ok_or_else(bad)?;
    let (auth, rest) = rest.split_once('@').ok_or_else(bad)?;
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (host, path) = rest.split_once('/').ok_or_else(bad)?;
    let (host, port) = host.split_once(':').map_or((host, "21"), |(h, p)| (h, p));
    let port = port.parse().map_err(|_| bad())?;
    // 0x94 carries the host as 16 ASCII bytes: an IP address or a DNS name.
    let hostname =
        |h: &str| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if host.len() > 16 || !hostname(host) {
        return Err(format!("{url}: the server must be an IP address or host name of at most 16 characters"));
    }
    let fits = |s: &str, n: usize| s.len() <= n && s.bytes().all(|b| b.is_ascii_graphic());
    if !fits(user, 16) || !fits(password, 16) || !fits(path, 31) {
        return Err(format!("{url}: user and password take 16 printable characters, the path 31"));
    }
    Ok((host.into(), port, user.into(), password.into(), format!("/{path}")))
}

/// Whether a YKC pile can be asked for `m`.
pub fn check_maintenance(m: &Maintenance) -> Result<(), String> {
    match m {
        Maintenance::WorkParams { max_power_percent: p, .. } if !(30..=100).contains(p) => {
            Err(format!("max_power_percent {p} is outside 30-100"))
        }
        Maintenance::Firmware { url, .. } => ftp(url).map(|_| ()),
        Maintenance::QrPrefix { prefix, .. }
            if prefix.len() > 150 || !prefix.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Err("a QR prefix is at most 150 printable ASCII characters".into())
        }
        Maintenance::OfflineCardsSync { cards } | Maintenance::OfflineCardsClear { cards } => {
            let max = match m {
                Maintenance::OfflineCardsSync { .. } => ykc::OfflineCardSync::MAX_CARDS,
                _ => ykc::OfflineCardClear::MAX_CARDS,
            };
            if cards.is_empty() || cards.len() > max {
                return Err(format!("1 to {max} cards per command"));
            }
            match cards.iter().find(|c| c.len() != 16 || !c.bytes().all(|b| b.is_ascii_hexdigit())) {
                Some(bad) => Err(format!("card {bad:?} is not 16 hex digits")),
                None => Ok(()),
            }
        }
        Maintenance::ChangeConfiguration { .. }
        | Maintenance::GetConfiguration { .. }
        | Maintenance::UnlockConnector { .. }
        | Maintenance::GetDiagnostics { .. }
        | Maintenance::ClearCache
        | Maintenance::GetLocalListVersion
        | Maintenance::DataTransfer { .. } => Err(format!("YKC piles do not take {}", m.kind())),
        _ => Ok(()),
    }
}

/// A real-time data frame as a port report. Idle frames carry an all-zero
/// serial: no charge.
fn report(m: &ykc::RealTime) -> PortReport {
    let status = match m.gun_status() {
        GunStatus::Charging => PortStatus::Charging,
        GunStatus::Fault => PortStatus::Fault,
        GunStatus::Offline => PortStatus::Offline,
        GunStatus::Idle | GunStatus::Unknown(_) if m.plugged => PortStatus::Plugged,
        GunStatus::Idle | GunStatus::Unknown(_) => PortStatus::Idle,
    };
    let session = Some(m.serial.clone()).filter(|s| s.as_str().bytes().any(|b| b != b'0'));
    PortReport {
        port: PortNo(m.gun),
        status,
        session,
        reading: Some(Reading {
            kwh: m.kwh,
            voltage: m.voltage,
            current: m.current,
            power: (m.voltage * m.current).round_dp(1),
            soc: Some(m.soc),
            // YKC counts whole minutes; the platform's clock is finer.
            elapsed_s: None,
            temperature_c: Some(m.cable_temp),
            register_kwh: None,
            at: None,
        }),
        faults: Some(ykc::hardware_faults(m.hardware_faults)),
    }
}

/// Stop reasons 0x6A-0x8F are abnormal stops: faults worth an alarm.
fn start_refusal(reason: u8) -> &'static str {
    match reason {
        1 => "pile id mismatch",
        2 => "gun already charging",
        3 => "pile fault",
        4 => "pile offline",
        5 => "gun not plugged in",
        _ => "refused by the pile",
    }
}

impl Adapter for Ykc {
    type Frame = Frame;
    type DecodeItem = Result<Frame, FrameFault>;
    type Fatal = CodecError;
    type Codec = FrameCodec;

    const PROTOCOL: Protocol = Protocol::Ykc;

    fn new(clock: vocab::Clock) -> Self {
        Ykc {
            clock,
            refreshing: None,
            pile: None,
            seq: 0,
            offset: FixedOffset::east_opt(0).expect("zero offset"),
        }
    }

    fn codec() -> FrameCodec {
        FrameCodec
    }

    fn set_utc_offset(&mut self, offset: FixedOffset) {
        self.offset = offset;
    }

    fn inbound(&mut self, item: Result<Frame, FrameFault>, out: &mut Out<Frame>) -> Inbound {
        let frame = match item {
            Ok(frame) => frame,
            Err(fault) => return Inbound::Fault(fault.kind_label()),
        };
        match Message::decode(&frame) {
            Ok(msg) => self.event(&frame, msg, out),
            Err(e) => Inbound::Fault(e.kind_label()),
        }
    }

    fn outbound(&mut self, command: PileCommand, out: &mut Out<Frame>) {
        let out = &mut out.replies;
        out.extend(self.command(command));
    }

    fn item_type(item: &Result<Frame, FrameFault>) -> Option<u8> {
        item.as_ref().ok().map(|f| f.kind)
    }

    fn frame_type(frame: &Frame) -> u8 {
        frame.kind
    }

    fn fatal_label(error: &CodecError) -> &'static str {
        error.kind_label()
    }
}

impl Ykc {
    fn maintenance(&self, pile: PileId, m: Maintenance) -> Option<Message> {
        let when = |idle: bool| if idle { ykc::Reboot::WHEN_IDLE } else { ykc::Reboot::NOW };
        Some(match m {
            Maintenance::TimeSync => {
                let time = self.clock.now().with_timezone(&self.offset).naive_local();
                Message::TimeSync(ykc::TimeSync { pile, time: time.with_nanosecond(0).unwrap_or(time) })
            }
            Maintenance::WorkParams { enabled, max_power_percent } => {
                Message::WorkParams(ykc::WorkParams { pile, enabled, max_power_percent })
            }
            Maintenance::Reboot { when_idle } => Message::Reboot(ykc::Reboot { pile, when: when(when_idle) }),
            Maintenance::Firmware { url, when_idle } => {
                let (server, port, user, password, path) = ftp(&url).ok()?;
                Message::FirmwareUpgrade(ykc::FirmwareUpgrade {
                    pile,
                    pile_model: ykc::FirmwareUpgrade::MODEL_DC,
                    power_kw: 0,
                    server,
                    port,
                    user,
                    password,
                    path,
                    when: when(when_idle),
                    timeout_minutes: 30,
                })
            }
            Maintenance::Refresh { port } => {
                Message::RealTimeRequest(ykc::RealTimeRequest { pile, gun: port })
            }
            Maintenance::QrPrefix { prefix, per_gun } => {
                let format = if per_gun { ykc::QrPrefix::PILE_AND_GUN } else { ykc::QrPrefix::PILE };
                Message::QrPrefix(ykc::QrPrefix { pile, format, prefix })
            }
            // The platform's card numbers are the cards' own (physical);
            // the logical number the pile shows is that number in BCD, where
            // it is one.
            Maintenance::OfflineCardsSync { cards } => {
                let cards = cards
                    .iter()
                    .map(|c| ykc::OfflineCard { logical_card: logical_card(c), physical_card: card_bytes(c) })
                    .collect();
                Message::OfflineCardSync(ykc::OfflineCardSync { pile, cards })
            }
            Maintenance::OfflineCardsClear { cards } => {
                let cards = cards.iter().map(|c| card_bytes(c)).collect();
                Message::OfflineCardClear(ykc::OfflineCardClear { pile, cards })
            }
            // OCPP's own: refused before they get here (`check_maintenance`).
            _ => return None,
        })
    }

    fn command(&mut self, command: PileCommand) -> Option<Frame> {
        let pile = self.pile.clone()?;
        let (msg, seq) = match command {
            PileCommand::LoginReply { accepted, reply } => {
                (Message::LoginReply(ykc::LoginReply { pile, accepted }), reply.0 as u16)
            }
            // A card start is answered with the verdict that carries the
            // charge's serial: the pile then starts by itself.
            PileCommand::StartCharge {
                port,
                session,
                order: Order { card: Some((card, reply)), balance, .. },
            } => {
                let m = ykc::CardStartVerdict {
                    serial: session,
                    pile,
                    gun: port.0,
                    logical_card: logical_card(&card),
                    balance,
                    ok: true,
                    reason: ykc::CardStartVerdict::NONE,
                };
                (Message::CardStartVerdict(m), reply.0 as u16)
            }
            // YKC piles do not ask for a balance alone.
            PileCommand::CardVerdict { verdict: Ok(_), .. } | PileCommand::CardBalance { .. } => return None,
            PileCommand::BalanceUpdate { port, card, balance } => {
                let physical_card = card.as_deref().map(card_bytes).unwrap_or([0; 8]);
                let m = ykc::BalanceUpdate { pile, gun: port.0, physical_card, balance };
                (Message::BalanceUpdate(m), self.next_seq())
            }
            PileCommand::CardVerdict { port, card, verdict: Err(why), reply } => {
                let reason = match why {
                    CardRefusal::Unknown => ykc::CardStartVerdict::NO_ACCOUNT,
                    CardRefusal::Frozen => ykc::CardStartVerdict::FROZEN,
                    CardRefusal::BalanceTooLow => ykc::CardStartVerdict::BALANCE_TOO_LOW,
                    CardRefusal::Unsettled => ykc::CardStartVerdict::CARD_UNSETTLED,
                    CardRefusal::NotAllowedHere => ykc::CardStartVerdict::NOT_ALLOWED_HERE,
                    CardRefusal::Busy => ykc::CardStartVerdict::PILE_UNSETTLED,
                    CardRefusal::CapacityShort => ykc::CardStartVerdict::CAPACITY_SHORT,
                    CardRefusal::Unavailable => ykc::CardStartVerdict::PILE_DISABLED,
                };
                let m = refusal_verdict(pile, port.0, logical_card(&card), reason);
                (Message::CardStartVerdict(m), reply.0 as u16)
            }
            PileCommand::StartCharge { port, session, order } => {
                // The pile stops by itself when the balance is spent.
                let balance = order.balance;
                let m = ykc::RemoteStart {
                    serial: session,
                    pile,
                    gun: port.0,
                    logical_card: [0; 8],
                    physical_card: [0; 8],
                    balance,
                };
                (Message::RemoteStart(m), self.next_seq())
            }
            // YKC piles take no time limits or protections: their balance
            // bounds the charge and their own firmware protects it.
            PileCommand::Adjust { .. } | PileCommand::Protections(_) | PileCommand::PortService { .. } => {
                return None
            }
            PileCommand::Maintain(m) => {
                if let Maintenance::Refresh { port } = m {
                    self.refreshing = Some(port);
                }
                (self.maintenance(pile, m)?, self.next_seq())
            }
            // YKC limits a whole pile: its charging guns' grants as a share
            // of what they could deliver.
            PileCommand::PowerLimit { limits, rated_w } => {
                let granted: Decimal = limits.iter().map(|(_, _, w)| *w).sum();
                let rated = rated_w * Decimal::from(limits.len().max(1));
                let m =
                    ykc::WorkParams { pile, enabled: true, max_power_percent: ykc_percent(granted, rated) };
                (Message::WorkParams(m), self.next_seq())
            }
            PileCommand::StopCharge { port, .. } => {
                (Message::RemoteStop(ykc::RemoteStop { pile, gun: port.0 }), self.next_seq())
            }
            PileCommand::AckRecord { session, accepted, reply, .. } => {
                (Message::RecordAck(ykc::RecordAck { serial: session, invalid: !accepted }), reply.0 as u16)
            }
            PileCommand::TariffCheckReply { model, current, reply } => {
                let m = ykc::BillingModelCheckReply { pile, model, differs: !current };
                (Message::BillingModelCheckReply(m), reply.0 as u16)
            }
            PileCommand::PushTariff { model, tou } => {
                (Message::BillingModelPush(billing_model(pile, model, &tou)), self.next_seq())
            }
            PileCommand::Tariff { model, tou, reply } => {
                (Message::BillingModel(billing_model(pile, model, &tou)), reply.0 as u16)
            }
        };
        match msg.encode(seq) {
            Ok(frame) => Some(frame),
            Err(e) => {
                tracing::error!(error = %e, "command cannot be encoded for YKC");
                None
            }
        }
    }
}

/// A tariff in the billing-model body's layout (0x0A, 0x58): the rates of
/// each period and the period code of each half hour. No loss ratio: the
/// platform bills metered energy as it is.
fn billing_model(pile: PileId, model: u16, tou: &TouPrices) -> ykc::BillingModel {
    ykc::BillingModel {
        pile,
        model,
        prices: Period::ALL.map(|p| {
            let price = tou.price(p);
            ykc::PeriodRate { energy: price.energy, service: price.service }
        }),
        loss_ratio: 0,
        slots: tou.slots.map(period_code),
    }
}

/// YKC's code for a tariff period, in a slot byte and as the index of the
/// period's rates.
fn period_code(p: Period) -> u8 {
    match p {
        Period::Sharp => ykc::period::SHARP,
        Period::Peak => ykc::period::PEAK,
        Period::Flat => ykc::period::FLAT,
        Period::Valley => ykc::period::VALLEY,
    }
}

static COUNTER: AtomicU16 = AtomicU16::new(0);

/// A YKC transaction serial: pile id (14 digits), gun (2), local time
/// yyMMddHHmmss (12) and a 4-digit counter.
pub fn session_id(pile: &PileId, port: PortNo, local: NaiveDateTime) -> SessionId {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) % 10_000;
    SessionId(format!("{}{:02}{}{:04}", pile, port.0 % 100, local.format("%y%m%d%H%M%S"), n))
}

/// A card number's eight bytes from its hex text (zeros where it is not hex).
fn card_bytes(card: &str) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    for (b, pair) in bytes.iter_mut().zip(card.as_bytes().chunks(2)) {
        *b = std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()).unwrap_or(0);
    }
    bytes
}

/// The logical (printed) card number the pile shows, which the spec
/// carries as 16 BCD digits, right-aligned (0x32, 0x44): a card number of
/// decimal digits as itself, any other as zeros, since a hex UID is no BCD.
fn logical_card(card: &str) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    if card.is_empty() || card.len() > 16 || !card.bytes().all(|b| b.is_ascii_digit()) {
        return bytes;
    }
    let digits = format!("{card:0>16}");
    for (b, pair) in bytes.iter_mut().zip(digits.as_bytes().chunks(2)) {
        *b = (pair[0] - b'0') << 4 | (pair[1] - b'0');
    }
    bytes
}

fn refusal_verdict(pile: PileId, gun: u8, card: [u8; 8], reason: u8) -> ykc::CardStartVerdict {
    ykc::CardStartVerdict {
        serial: SessionId("0".repeat(32)),
        pile,
        gun,
        logical_card: card,
        balance: Decimal::ZERO,
        ok: false,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use domain::tariff::{PeriodPrice, SLOTS};
    use rust_decimal_macros::dec;

    use super::*;

    /// Each period's rates sit at its YKC code and each half hour carries
    /// its period's code, so a pile bills as the tariff says.
    #[test]
    fn a_tariff_becomes_the_billing_model_layout() {
        let mut slots = [Period::Flat; SLOTS];
        slots[..16].fill(Period::Valley);
        slots[20..24].fill(Period::Peak);
        slots[24..28].fill(Period::Sharp);
        let tou = TouPrices {
            prices: [
                PeriodPrice { energy: dec!(1.2), service: dec!(0.8) },
                PeriodPrice { energy: dec!(1.0), service: dec!(0.6) },
                PeriodPrice { energy: dec!(0.71234), service: dec!(0.5) },
                PeriodPrice { energy: dec!(0.3), service: dec!(0.4) },
            ],
            slots,
        };
        let m = billing_model(PileId::from("32010200000001"), 101, &tou);
        assert_eq!((m.model, m.loss_ratio), (101, 0));
        for p in Period::ALL {
            let rate = m.prices[usize::from(period_code(p))];
            assert_eq!((rate.energy, rate.service), (tou.price(p).energy, tou.price(p).service));
        }
        assert_eq!(m.prices[usize::from(ykc::period::FLAT)].energy, dec!(0.71234));
        assert_eq!(m.slots[0], ykc::period::VALLEY);
        assert_eq!(m.slots[16], ykc::period::FLAT);
        assert_eq!(m.slots[20], ykc::period::PEAK);
        assert_eq!(m.slots[24], ykc::period::SHARP);
        // The body is 90 bytes and the slots are its last 48.
        let frame = Message::BillingModel(m).encode(0).unwrap();
        assert_eq!(frame.body.len(), 90);
        assert_eq!(frame.body[42], 3);
        assert_eq!(frame.body[42 + 24], 0);
    }

    /// The spec's 0x34 sample shows logical card 1000000573 as
    /// `0000001000000573`: BCD, right-aligned.
    #[test]
    fn logical_cards_are_bcd_and_hex_uids_are_not_sent_as_one() {
        assert_eq!(logical_card("1000000573"), [0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x05, 0x73]);
        assert_eq!(logical_card("1234000000000009"), [0x12, 0x34, 0, 0, 0, 0, 0, 0x09]);
        assert_eq!(logical_card("00000000D14B0A54"), [0; 8]);
        assert_eq!(logical_card(""), [0; 8]);
        assert_eq!(logical_card("12345678901234567"), [0; 8]);
    }

    #[test]
    fn ftp_urls_take_an_address_or_a_name_that_fits_16_bytes() {
        let (host, port, user, password, path) =
            ftp("ftp://sr:sr123@114.55.114.174/AC-7KW/20180131").unwrap();
        assert_eq!(
            (host.as_str(), port, user.as_str(), password.as_str()),
            ("114.55.114.174", 21, "sr", "sr123")
        );
        assert_eq!(path, "/AC-7KW/20180131");
        assert_eq!(ftp("ftp://u:p@fw.example.cn:2121/x.bin").unwrap().0, "fw.example.cn");
        assert!(ftp("ftp://u:p@firmware.example.com/x.bin").is_err(), "17 characters do not fit");
        assert!(ftp("ftp://u:p@bad host/x.bin").is_err());
        assert!(ftp("http://u:p@10.0.0.5/x.bin").is_err());
    }
}
