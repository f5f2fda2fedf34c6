//! The one place protocols differ.
//!
//! A link decodes frames with its protocol's codec and hands each to the
//! protocol's adapter, which answers what the protocol answers by itself
//! (heartbeats) and turns the rest into [`PileEvent`]s. Going the other way,
//! the adapter turns a [`PileCommand`] into a frame. Pile, port and session
//! actors only ever see events and commands, never a protocol.

use chrono::{DateTime, FixedOffset, Utc};
use domain::pricing::Limit;
use domain::session::StopReason;
use domain::tariff::TouPrices;
use rust_decimal::Decimal;
use tokio_util::codec::{Decoder, Encoder};
use vocab::{PileId, PortNo, PortStatus, Protocol, SessionId, Severity};

pub mod dny;
pub mod ocpp;
pub mod ykc;

/// Names the request a deferred reply answers (protocols echo the request's
/// sequence number), without the actors knowing what it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyTo(pub u32);

#[derive(Clone, Debug, PartialEq)]
pub struct LoginInfo {
    pub pile: PileId,
    pub ports: u8,
    pub firmware: String,
}

/// A live meter reading of a port.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// Energy of the current charge so far, kWh.
    pub kwh: Decimal,
    pub voltage: Decimal,
    pub current: Decimal,
    /// Average power since the last reading, W.
    pub power: Decimal,
    pub soc: Option<u8>,
    /// Seconds charged by the pile's own timer, where the protocol has one.
    pub elapsed_s: Option<u32>,
    /// The port's (or its cable's) temperature, °C.
    pub temperature_c: Option<i16>,
    /// The pile's own energy register, kWh, where its protocol reports that
    /// rather than the charge's energy (OCPP): the session measures from
    /// the register at the charge's start, which it keeps.
    pub register_kwh: Option<Decimal>,
    /// When the pile took it, for a reading it kept while offline and sends
    /// late; `None`: just now.
    pub at: Option<DateTime<Utc>>,
}

/// What a port reported about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct PortReport {
    pub port: PortNo,
    pub status: PortStatus,
    /// The charge the report belongs to, when the protocol says.
    pub session: Option<SessionId>,
    /// Status-only reports (a heartbeat) carry no reading.
    pub reading: Option<Reading>,
    /// Hardware faults active now, by name, with how serious each is;
    /// `None` if this report says nothing about faults.
    pub faults: Option<Vec<(&'static str, Severity)>>,
}

/// The pile's own closing record of a charge.
#[derive(Clone, Debug, PartialEq)]
pub struct FinalRecord {
    pub port: PortNo,
    pub session: SessionId,
    /// When the charge ended, by the pile's clock.
    pub ended_at: DateTime<Utc>,
    /// Energy delivered, kWh, by the pile's meter.
    pub kwh: Decimal,
    /// Seconds charged by the pile's own timer, where the protocol has one.
    pub elapsed_s: Option<u32>,
    /// What the pile computed the charge cost, yuan, where its protocol says.
    pub amount: Option<Decimal>,
    pub reason: StopReason,
    /// Set when the charge ended on a fault (overload, over-temperature...).
    pub fault: Option<Severity>,
    /// The card that started it, in hex, where the pile says (a card or an
    /// offline-card charge).
    pub card: Option<String>,
    /// The pile started this charge by itself (an offline card), at this
    /// time: the platform has no session for it until this record.
    pub started_offline: Option<DateTime<Utc>>,
    /// The pile's energy register at the end, kWh, where its protocol says:
    /// the session bills from the register at its start, if it knows it.
    pub register_kwh: Option<Decimal>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PileEvent {
    Login(LoginInfo, ReplyTo),
    Port(PortReport),
    StartResult {
        port: PortNo,
        session: SessionId,
        accepted: bool,
        reason: Option<StopReason>,
    },
    StopResult {
        port: PortNo,
        accepted: bool,
    },
    Record(FinalRecord, ReplyTo),
    /// The pile asks whether its tariff (by the number the platform gave it)
    /// is current.
    TariffCheck {
        model: u16,
        reply: ReplyTo,
    },
    TariffRequest(ReplyTo),
    /// Something is wrong at the pile (a port, or the whole pile when `port`
    /// is `None`).
    Alarm {
        port: Option<PortNo>,
        kind: &'static str,
        severity: Severity,
        message: String,
    },
    /// The pile's supply voltage, V.
    Supply {
        voltage: Decimal,
    },
    /// The pile took (or refused) a pushed tariff.
    TariffPushed {
        ok: bool,
    },
    /// A frame kept for diagnosis (a car's BMS talking to the pile).
    Diagnostic {
        port: PortNo,
        session: Option<SessionId>,
        kind: &'static str,
        /// The payload, hex.
        data: String,
    },
    /// A driver swiped a card at a port to start a charge.
    CardStart {
        port: PortNo,
        /// The card number in hex, as the pile read it.
        card: String,
        reply: ReplyTo,
    },
    /// A rider asked what a card has left, without charging (AP3000: a
    /// swipe on port 0xFF); the pile speaks the answer.
    BalanceQuery {
        card: String,
        reply: ReplyTo,
    },
    /// The pile's answer to a maintenance command.
    MaintenanceResult {
        kind: &'static str,
        ok: bool,
        detail: String,
        /// What the pile answered, where the command asked for something
        /// (OCPP GetConfiguration, GetLocalListVersion, DataTransfer).
        answer: Option<serde_json::Value>,
    },
}

impl PileEvent {
    /// The port an event is about, if it is about one port.
    pub fn port(&self) -> Option<PortNo> {
        match self {
            PileEvent::Port(r) => Some(r.port),
            PileEvent::StartResult { port, .. } | PileEvent::StopResult { port, .. } => Some(*port),
            PileEvent::Record(r, _) => Some(r.port),
            PileEvent::CardStart { port, .. } => Some(*port),
            _ => None,
        }
    }
}

/// How a charge is to run, for piles that enforce it themselves.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    /// What the driver has to spend, yuan.
    pub balance: Decimal,
    pub pricing: PricingKind,
    /// Stop after this long or this much (from a prepaid amount).
    pub limit: Limit,
    /// Never charge longer than this, seconds.
    pub max_duration_s: u32,
    /// Stop above this power (an appliance that is not a bike), W.
    pub overload_w: Decimal,
    /// Full when the power stays under `full_power_w` for `full_hold_s`.
    pub full_power_w: Decimal,
    pub full_hold_s: u8,
    /// The charge answers a card swipe (its number and the swipe's frame).
    pub card: Option<(String, ReplyTo)>,
}

/// Why a card may not start a charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardRefusal {
    Unknown,
    Frozen,
    BalanceTooLow,
    /// The account has a charge still running or unbilled.
    Unsettled,
    NotAllowedHere,
    Busy,
    CapacityShort,
    Unavailable,
}

impl CardRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            CardRefusal::Unknown => "unknown_card",
            CardRefusal::Frozen => "frozen",
            CardRefusal::BalanceTooLow => "balance_too_low",
            CardRefusal::Unsettled => "unsettled",
            CardRefusal::NotAllowedHere => "not_allowed_here",
            CardRefusal::Busy => "busy",
            CardRefusal::CapacityShort => "capacity_short",
            CardRefusal::Unavailable => "unavailable",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PricingKind {
    Time,
    Energy,
    PowerTiers,
    TimeOfUse,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PileCommand {
    LoginReply {
        accepted: bool,
        reply: ReplyTo,
    },
    StartCharge {
        port: PortNo,
        session: SessionId,
        order: Order,
    },
    StopCharge {
        port: PortNo,
        session: SessionId,
    },
    /// What a running charge may now spend, yuan (its wallet was topped up).
    BalanceUpdate {
        port: PortNo,
        card: Option<String>,
        balance: Decimal,
    },
    /// The answer to a card swipe: `Ok` with what the charge may spend
    /// (its start follows as `StartCharge` with `Order::card`), or why not.
    CardVerdict {
        port: PortNo,
        card: String,
        verdict: Result<Decimal, CardRefusal>,
        reply: ReplyTo,
    },
    /// The answer to a balance query: the card's wallet, or why there is none.
    CardBalance {
        card: String,
        balance: Result<Decimal, CardRefusal>,
        reply: ReplyTo,
    },
    /// Hold charging ports to at most these powers (W); the station shares
    /// its transformer this way. `rated_w` is what one port can deliver.
    PowerLimit {
        limits: Vec<(PortNo, Option<SessionId>, Decimal)>,
        rated_w: Decimal,
    },
    Maintain(Maintenance),
    /// A port was taken out of service or put back. The platform refuses
    /// its charges either way; piles that can (OCPP's ChangeAvailability)
    /// are told too, so a local start there is refused at the pile.
    PortService {
        port: PortNo,
        in_service: bool,
    },
    /// The station's tariff changed: here is the new one.
    PushTariff {
        model: u16,
        tou: TouPrices,
    },
    /// What the pile itself must stop a charge for, sent when it logs in.
    Protections(Protections),
    /// Change a running charge's time limit (seconds from its start).
    Adjust {
        port: PortNo,
        session: SessionId,
        limit_s: u32,
    },
    AckRecord {
        port: PortNo,
        session: SessionId,
        accepted: bool,
        reply: ReplyTo,
    },
    TariffCheckReply {
        model: u16,
        current: bool,
        reply: ReplyTo,
    },
    Tariff {
        model: u16,
        tou: TouPrices,
        reply: ReplyTo,
    },
}

/// Limits a pile enforces on its own, whatever the platform says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protections {
    pub max_duration_s: u32,
    pub port_overload_w: Decimal,
    /// The whole pile (a power strip feeding several bikes trips this).
    pub pile_overload_w: Decimal,
    pub over_voltage_v: Decimal,
    pub under_voltage_v: Decimal,
    pub full_power_w: Decimal,
}

/// Remote maintenance an operator can ask of a pile.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Maintenance {
    /// Set the pile's clock to the platform's (station local time).
    TimeSync,
    /// Allow or forbid charging, and cap the output at a percentage (30-100).
    WorkParams {
        enabled: bool,
        max_power_percent: u8,
    },
    Reboot {
        when_idle: bool,
    },
    /// Fetch and install firmware: `ftp://user:password@host:port/path`.
    Firmware {
        url: String,
        when_idle: bool,
    },
    /// What the QR code on the pile's screen starts with; the pile appends
    /// its id (and the gun, if `per_gun`).
    QrPrefix {
        prefix: String,
        per_gun: bool,
    },
    /// Report a port's live data now.
    Refresh {
        port: u8,
    },
    /// Put cards (16 hex digits each) on the pile's offline list: it may
    /// start them while its link is down and report the charge later.
    OfflineCardsSync {
        cards: Vec<String>,
    },
    /// Take cards off the pile's offline list (a lost or cancelled card).
    OfflineCardsClear {
        cards: Vec<String>,
    },
    /// OCPP: set one configuration key (at most 50 characters; the value 500).
    ChangeConfiguration {
        key: String,
        value: String,
    },
    /// OCPP: read configuration keys, all of them if `keys` is empty; the
    /// charge point's answer comes with the command's outcome.
    GetConfiguration {
        #[serde(default)]
        keys: Vec<String>,
    },
    /// OCPP: release a connector's cable lock.
    UnlockConnector {
        port: u8,
    },
    /// OCPP: upload the charge point's diagnostics to `url` (its answer
    /// names the file).
    GetDiagnostics {
        url: String,
    },
    /// OCPP: forget the idTags it authorized before (its cache).
    ClearCache,
    /// OCPP: the version of the offline list (local authorization list) it holds.
    GetLocalListVersion,
    /// OCPP: a vendor's own message; the charge point's answer comes with
    /// the outcome.
    DataTransfer {
        vendor_id: String,
        #[serde(default)]
        message_id: Option<String>,
        #[serde(default)]
        data: Option<String>,
    },
}

impl Maintenance {
    pub fn kind(&self) -> &'static str {
        match self {
            Maintenance::TimeSync => "time_sync",
            Maintenance::WorkParams { .. } => "work_params",
            Maintenance::Reboot { .. } => "reboot",
            Maintenance::Firmware { .. } => "firmware",
            Maintenance::QrPrefix { .. } => "qr_prefix",
            Maintenance::Refresh { .. } => "refresh",
            Maintenance::OfflineCardsSync { .. } => "offline_cards_sync",
            Maintenance::OfflineCardsClear { .. } => "offline_cards_clear",
            Maintenance::ChangeConfiguration { .. } => "change_configuration",
            Maintenance::GetConfiguration { .. } => "get_configuration",
            Maintenance::UnlockConnector { .. } => "unlock_connector",
            Maintenance::GetDiagnostics { .. } => "get_diagnostics",
            Maintenance::ClearCache => "clear_cache",
            Maintenance::GetLocalListVersion => "get_local_list_version",
            Maintenance::DataTransfer { .. } => "data_transfer",
        }
    }
}

/// Whether a pile of `protocol` can be asked for `m`, and if not why.
pub fn check_maintenance(protocol: Protocol, m: &Maintenance) -> Result<(), String> {
    match protocol {
        Protocol::Ykc => ykc::check_maintenance(m),
        Protocol::Dny => dny::check_maintenance(m),
        Protocol::Ocpp => ocpp::check_maintenance(m),
    }
}

/// What the adapter makes of one decoded item: frames the protocol answers
/// at once, and events for the pile actor.
pub struct Out<F> {
    pub replies: Vec<F>,
    pub events: Vec<PileEvent>,
}

impl<F> Default for Out<F> {
    fn default() -> Self {
        Out { replies: Vec::new(), events: Vec::new() }
    }
}

/// How one decoded item went.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    Ok,
    /// A damaged or unusable frame, dropped; the label names its kind.
    Fault(&'static str),
    /// A well-formed frame this platform does not act on (yet).
    Unhandled,
}

pub trait Adapter: Sized + Unpin + 'static {
    type Frame: Clone + Unpin + 'static;
    type DecodeItem: 'static;
    /// A decoding error that ends the connection (an impossible length).
    type Fatal: std::fmt::Display + From<std::io::Error> + 'static;
    type Codec: Decoder<Item = Self::DecodeItem, Error = Self::Fatal>
        + Encoder<Self::Frame, Error = std::io::Error>
        + Unpin
        + 'static;

    const PROTOCOL: Protocol;

    fn new(clock: vocab::Clock) -> Self;
    fn codec() -> Self::Codec;

    /// Once logged in, the station's offset from UTC: pile clocks run in
    /// local time.
    fn set_utc_offset(&mut self, offset: FixedOffset);

    /// Turns one decoded item into events and immediate replies.
    fn inbound(&mut self, item: Self::DecodeItem, out: &mut Out<Self::Frame>) -> Inbound;

    /// The frames carrying a command (none if the protocol cannot say
    /// it), and events the command settles at once (OCPP: the answer to a
    /// charge point's StartTransaction also tells the session it started).
    fn outbound(&mut self, command: PileCommand, out: &mut Out<Self::Frame>);

    /// What a protocol does as soon as a connection opens, before anything
    /// is read: OCPP names the charge point in the URL, so it logs in here.
    fn opened(&mut self, _out: &mut Out<Self::Frame>) {}

    /// A login the platform could not decide (the store did not answer,
    /// which is no refusal). Returning true keeps the link open, unattached,
    /// until the pile's next `Login` event runs it again (OCPP answers
    /// BootNotification Pending); by default the link is refused and closed.
    fn login_later(&mut self, _reply: ReplyTo, _out: &mut Out<Self::Frame>) -> bool {
        false
    }

    /// Whether the platform keeps at most one command of its own in flight,
    /// the next waiting until it is answered or times out (OCPP-J §4.1.1),
    /// rather than spacing them and resending once (AP3000).
    const ONE_IN_FLIGHT: bool = false;

    /// A command awaiting an answer (`awaits_answer`) got none in time.
    fn timed_out(&mut self, _key: u32, _out: &mut Out<Self::Frame>) {}

    /// For a command the platform starts that the protocol wants spaced
    /// and resent if unanswered (`crate::pacing`), the key its answer will
    /// carry; `None` (replies, and protocols without the rule): sent at once.
    fn awaits_answer(_frame: &Self::Frame) -> Option<u32> {
        None
    }

    /// The key of the paced command an inbound item answers, if any.
    fn answers(_item: &Self::DecodeItem) -> Option<u32> {
        None
    }

    /// The type byte of a decoded frame (`None` for a fault), for metrics.
    fn item_type(item: &Self::DecodeItem) -> Option<u8>;

    /// The type byte of a frame to send, for metrics.
    fn frame_type(frame: &Self::Frame) -> u8;

    /// A label for a fatal error, for metrics.
    fn fatal_label(error: &Self::Fatal) -> &'static str;
}

/// Mints the id of a new charge in the form the pile's protocol carries.
pub fn session_id(
    protocol: Protocol,
    pile: &PileId,
    port: PortNo,
    local: chrono::NaiveDateTime,
) -> SessionId {
    match protocol {
        Protocol::Ykc => ykc::session_id(pile, port, local),
        Protocol::Dny => dny::session_id(),
        Protocol::Ocpp => ocpp::session_id(),
    }
}
