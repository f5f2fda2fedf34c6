//! The OCPP 1.6J adapter: a charge point's RPC calls in, protocol-neutral
//! events out, and the platform's commands back as calls.
//!
//! Connectors are ports; connector 0 is the charge point itself. The charge
//! point is named by its URL, so it logs in as the connection opens;
//! BootNotification is then answered Accepted with the heartbeat interval.
//! A login the store could not answer leaves the link open: BootNotification
//! is answered Pending with the retry interval, and the next one logs the
//! charge point in again, answered by that login's outcome (OCPP 1.6 §4.2).
//! The platform's session id is an integer, the transactionId a charge
//! point carries; a remote start tells the charge point that id as the
//! idTag, so its StartTransaction is matched to the session waiting for it.
//! Calls from the charge point that need the actors (Authorize,
//! StartTransaction, StopTransaction) are answered when their command comes
//! back, naming the call by a `ReplyTo`.
//!
//! What a transaction needs beyond this link lives with its session: the
//! register at its start is a reading the session keeps (so a restart or a
//! reconnect goes on billing from it), and a StopTransaction names its
//! session. A transaction the charge point started while offline (its
//! StartTransaction stamped before this link opened) is answered at once
//! and billed from its StopTransaction like any pile's offline record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, FixedOffset, Utc};
use domain::session::StopReason;
use proto::ocpp::messages::*;
use proto::ocpp::{self, decode, ErrorCode, Frame, Malformed, PipeCodec};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;
use serde_json::Value;
use vocab::{Clock, PileId, PortNo, PortStatus, Protocol, SessionId, Severity};

use super::{
    Adapter, CardRefusal, FinalRecord, Inbound, LoginInfo, Maintenance, Order, Out, PileCommand, PileEvent,
    PortReport, Reading, ReplyTo,
};

/// A command of the platform's, sent and not yet answered.
#[derive(Debug)]
enum Call {
    RemoteStart {
        port: PortNo,
        session: SessionId,
    },
    RemoteStop {
        port: PortNo,
    },
    Maintain(&'static str),
    Profile,
    /// ChangeAvailability of one connector, as its port went out of service or back.
    Availability,
    /// ChargingScheduleAllowedChargingRateUnit, asked once after boot.
    RateUnit,
}

/// A call of the charge point's waiting on the actors.
#[derive(Debug)]
enum Ask {
    /// A BootNotification that logs the charge point in again.
    Boot,
    Authorize,
    Start {
        meter_start: i64,
    },
    Stop {
        tx: i32,
    },
}

pub struct Ocpp {
    id: Option<PileId>,
    clock: Clock,
    heartbeat_s: u32,
    accepted: bool,
    /// Its login is undecided: the next BootNotification runs it again.
    pending: bool,
    /// The interval a Pending charge point boots again after, s.
    retry_s: u32,
    /// Charging profiles are given in A: the charge point takes only Current.
    amps: bool,
    /// The charging-rate unit was asked for on this link.
    asked_unit: bool,
    next_call: u32,
    calls: Vec<(u32, Call)>,
    next_ask: u32,
    /// By `ReplyTo`: the call's message id and what it asked.
    asks: Vec<(u32, String, Ask)>,
    /// Remote starts accepted by the platform, waiting on StartTransaction.
    starting: Vec<(PortNo, SessionId)>,
    /// Each connector's last reported state.
    status: HashMap<u8, PortStatus>,
    /// Transactions seen on this link, by id, until their stop is billed.
    txs: HashMap<i32, Tx>,
    /// When this link opened: a call stamped well before it was queued
    /// while the charge point was offline.
    opened_at: DateTime<Utc>,
    /// How far a charge point's clock may lag before its calls count as
    /// queued offline.
    clock_slack: chrono::Duration,
}

/// The most transactions one link keeps track of (a charge point has a
/// handful of connectors).
const MAX_TXS: usize = 64;

/// A transaction as this link knows it. Nothing here is needed to bill it
/// right: the session keeps the register at its start.
#[derive(Clone, Debug)]
struct Tx {
    port: PortNo,
    /// The register at its start, Wh, where this link saw it.
    meter_start_wh: Option<i64>,
    /// Started by the charge point while offline: when, and by which idTag.
    offline: Option<(DateTime<Utc>, String)>,
}

impl Ocpp {
    /// The adapter of charge point `id`'s connection.
    pub fn charge_point(id: PileId, clock: Clock, cfg: &crate::config::OcppConfig) -> Self {
        let mut a = Ocpp::new(clock);
        a.id = Some(id);
        a.heartbeat_s = cfg.heartbeat_interval.as_secs().clamp(1, u32::MAX as u64) as u32;
        a.retry_s = cfg.pending_retry.as_secs().clamp(1, u32::MAX as u64) as u32;
        a.clock_slack = chrono::Duration::from_std(cfg.clock_slack).unwrap_or(chrono::Duration::MAX);
        a
    }

    /// Whether a call stamped `at` was queued while the charge point was offline.
    fn queued(&self, at: DateTime<Utc>) -> bool {
        at < self.opened_at.checked_sub_signed(self.clock_slack).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    fn call<T: Request>(&mut self, payload: &T, call: Call, out: &mut Out<Frame>) {
        self.next_call = self.next_call.wrapping_add(1).max(1);
        let key = self.next_call;
        self.calls.push((key, call));
        out.replies.push(Frame::call(key.to_string(), T::ACTION, payload));
    }

    fn ask(&mut self, id: String, ask: Ask) -> ReplyTo {
        // 0 names the login, which no call waits on.
        self.next_ask = self.next_ask.wrapping_add(1).max(1);
        self.asks.push((self.next_ask, id, ask));
        ReplyTo(self.next_ask)
    }

    fn take_ask(&mut self, reply: ReplyTo) -> Option<(String, Ask)> {
        let at = self.asks.iter().position(|(k, ..)| *k == reply.0)?;
        let (_, id, ask) = self.asks.swap_remove(at);
        Some((id, ask))
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Answers BootNotification `id`; once accepted, also asks whether its
    /// charging profiles are in W or A.
    fn boot_conf(&mut self, id: String, status: RegistrationStatus, out: &mut Out<Frame>) {
        let interval = if status == RegistrationStatus::Pending { self.retry_s } else { self.heartbeat_s };
        let conf = BootNotificationConf { status, current_time: self.now(), interval };
        out.replies.push(Frame::result(id, &conf));
        if self.accepted && !std::mem::replace(&mut self.asked_unit, true) {
            let key = Some(vec![RATE_UNIT_KEY.into()]);
            self.call(&GetConfigurationReq { key }, Call::RateUnit, out);
        }
    }

    /// One call of the charge point's.
    fn on_call(&mut self, id: String, action: &str, payload: Value, out: &mut Out<Frame>) -> Inbound {
        macro_rules! read {
            ($t:ty) => {
                match decode::<$t>(&payload) {
                    Ok(v) => v,
                    Err(unfit) => {
                        out.replies.push(Frame::error(id, unfit.code, unfit.description));
                        return Inbound::Fault(unfit.code.label());
                    }
                }
            };
        }
        match action {
            "BootNotification" => {
                let _boot = read!(BootNotificationReq);
                match (self.pending, self.id.clone()) {
                    // Answered when the login it runs again is decided.
                    (true, Some(pile)) => {
                        let info = LoginInfo { pile, ports: 1, firmware: String::new() };
                        let reply = self.ask(id, Ask::Boot);
                        out.events.push(PileEvent::Login(info, reply));
                    }
                    _ => {
                        let status = if self.accepted {
                            RegistrationStatus::Accepted
                        } else {
                            RegistrationStatus::Rejected
                        };
                        self.boot_conf(id, status, out);
                    }
                }
            }
            "Heartbeat" => {
                let _ = read!(HeartbeatReq);
                out.replies.push(Frame::result(id, &HeartbeatConf { current_time: self.now() }));
            }
            "StatusNotification" => {
                let m = read!(StatusNotificationReq);
                self.status_notification(m, out);
                out.replies.push(Frame::result(id, &Empty {}));
            }
            "Authorize" => {
                let m = read!(AuthorizeReq);
                // The idTag of a remote start is its session: already paid for.
                if self.starting.iter().any(|(_, s)| s.as_str() == m.id_tag.as_str()) {
                    let conf =
                        AuthorizeConf { id_tag_info: IdTagInfo::status(AuthorizationStatus::Accepted) };
                    out.replies.push(Frame::result(id, &conf));
                } else {
                    let reply = self.ask(id, Ask::Authorize);
                    out.events.push(PileEvent::BalanceQuery { card: card(&m.id_tag), reply });
                }
            }
            "StartTransaction" => {
                let m = read!(StartTransactionReq);
                let port = PortNo(m.connector_id.min(255) as u8);
                if m.connector_id == 0 {
                    let why = "a transaction runs on a connector, not on connector 0";
                    out.replies.push(Frame::error(id, ErrorCode::PropertyConstraintViolation, why));
                    return Inbound::Fault(ErrorCode::PropertyConstraintViolation.label());
                }
                let remote =
                    self.starting.iter().position(|(p, s)| *p == port || s.as_str() == m.id_tag.as_str());
                match remote.map(|at| self.starting.swap_remove(at)) {
                    Some((port, session)) => {
                        let conf = StartTransactionConf {
                            id_tag_info: IdTagInfo::status(AuthorizationStatus::Accepted),
                            transaction_id: transaction_id(&session),
                        };
                        out.replies.push(Frame::result(id, &conf));
                        self.begin(port, session, m.meter_start, out);
                    }
                    // The charge has run (or runs) already: it gets a
                    // transaction at once, and is billed from its stop.
                    None if self.queued(m.timestamp) => {
                        let tag = card(&m.id_tag);
                        let again = self.txs.iter().find(|(_, t)| {
                            t.port == port && t.offline.as_ref().is_some_and(|(at, _)| *at == m.timestamp)
                        });
                        let tx = match again {
                            Some((tx, _)) => *tx,
                            None => {
                                let tx = transaction_id(&session_id());
                                let offline = Some((m.timestamp, tag));
                                self.txs
                                    .insert(tx, Tx { port, meter_start_wh: Some(m.meter_start), offline });
                                tx
                            }
                        };
                        tracing::info!(pile = ?self.id, tx, started = %m.timestamp, "a transaction started while offline");
                        let conf = StartTransactionConf {
                            id_tag_info: IdTagInfo::status(AuthorizationStatus::Accepted),
                            transaction_id: tx,
                        };
                        out.replies.push(Frame::result(id, &conf));
                    }
                    None => {
                        let reply = self.ask(id, Ask::Start { meter_start: m.meter_start });
                        out.events.push(PileEvent::CardStart { port, card: card(&m.id_tag), reply });
                    }
                }
            }
            "MeterValues" => {
                let m = read!(MeterValuesReq);
                if let Some(report) = self.meter_values(&m) {
                    out.events.push(PileEvent::Port(report));
                }
                out.replies.push(Frame::result(id, &Empty {}));
            }
            "StopTransaction" => {
                let m = read!(StopTransactionReq);
                // A transaction the platform refused (id 0) bills nothing.
                if m.transaction_id <= 0 {
                    out.replies.push(Frame::result(id, &StopTransactionConf::default()));
                    return Inbound::Ok;
                }
                let record = self.final_record(&m);
                let reply = self.ask(id, Ask::Stop { tx: m.transaction_id });
                out.events.push(PileEvent::Record(record, reply));
            }
            "DataTransfer" => {
                let _ = read!(DataTransferReq);
                let conf = DataTransferConf { status: DataTransferStatus::UnknownVendorId, data: None };
                out.replies.push(Frame::result(id, &conf));
            }
            // Kept with the charge point's diagnostics, for the operator
            // following an update or an upload.
            "FirmwareStatusNotification" => {
                let m = read!(FirmwareStatusNotificationReq);
                out.replies.push(Frame::result(id, &Empty {}));
                let kind = "FirmwareStatusNotification";
                out.events.push(PileEvent::Diagnostic {
                    port: PortNo(0),
                    session: None,
                    kind,
                    data: m.status,
                });
            }
            "DiagnosticsStatusNotification" => {
                let m = read!(DiagnosticsStatusNotificationReq);
                out.replies.push(Frame::result(id, &Empty {}));
                let kind = "DiagnosticsStatusNotification";
                out.events.push(PileEvent::Diagnostic {
                    port: PortNo(0),
                    session: None,
                    kind,
                    data: m.status,
                });
            }
            _ => {
                let why = format!("{action} is not an action this central system implements");
                out.replies.push(Frame::error(id, ErrorCode::NotImplemented, why));
                return Inbound::Unhandled;
            }
        }
        Inbound::Ok
    }

    /// The charge point started `session`'s transaction: the session hears
    /// it started, and the register it starts from.
    fn begin(&mut self, port: PortNo, session: SessionId, meter_start_wh: i64, out: &mut Out<Frame>) {
        let tx = Tx { port, meter_start_wh: Some(meter_start_wh), offline: None };
        self.txs.insert(transaction_id(&session), tx);
        out.events.push(PileEvent::StartResult {
            port,
            session: session.clone(),
            accepted: true,
            reason: None,
        });
        let register = Decimal::from(meter_start_wh) / Decimal::from(1000);
        out.events.push(PileEvent::Port(PortReport {
            port,
            status: PortStatus::Charging,
            session: Some(session),
            reading: Some(Reading {
                kwh: Decimal::ZERO,
                voltage: Decimal::ZERO,
                current: Decimal::ZERO,
                power: Decimal::ZERO,
                soc: None,
                elapsed_s: None,
                temperature_c: None,
                register_kwh: Some(register),
                at: None,
            }),
            faults: None,
        }));
    }

    fn status_notification(&mut self, m: StatusNotificationReq, out: &mut Out<Frame>) {
        let fault = fault(m.error_code);
        if m.connector_id == 0 {
            if let Some((kind, severity)) = fault {
                let info = m.info.as_ref().map_or("", |i| i.as_str());
                let message = format!("charge point reports {:?} {info}", m.error_code).trim_end().to_owned();
                out.events.push(PileEvent::Alarm { port: None, kind, severity, message });
            }
            return;
        }
        let status = match m.status {
            ChargePointStatus::Available | ChargePointStatus::Reserved => PortStatus::Idle,
            ChargePointStatus::Preparing | ChargePointStatus::Finishing => PortStatus::Plugged,
            ChargePointStatus::Charging
            | ChargePointStatus::SuspendedEVSE
            | ChargePointStatus::SuspendedEV => PortStatus::Charging,
            ChargePointStatus::Unavailable | ChargePointStatus::Faulted => PortStatus::Fault,
        };
        let port = PortNo(m.connector_id.min(255) as u8);
        self.status.insert(port.0, status);
        out.events.push(PileEvent::Port(PortReport {
            port,
            status,
            session: None,
            reading: None,
            faults: Some(fault.into_iter().collect()),
        }));
    }

    fn meter_values(&mut self, m: &MeterValuesReq) -> Option<PortReport> {
        let port = PortNo(m.connector_id.min(255) as u8);
        if port.0 == 0 {
            return None;
        }
        let sample = m.meter_value.iter().max_by_key(|v| v.timestamp)?;
        let s = Samples::read(sample);
        let tx = m.transaction_id.filter(|id| *id > 0);
        // A transaction from before this link: its connector is known now
        // (a few at most: ids a charge point makes up cannot fill memory).
        if let Some(id) = tx.filter(|id| self.txs.contains_key(id) || self.txs.len() < MAX_TXS) {
            self.txs.entry(id).or_insert(Tx { port, meter_start_wh: None, offline: None }).port = port;
        }
        let start = tx.and_then(|id| self.txs.get(&id)).and_then(|t| t.meter_start_wh);
        // Where this link did not see the start, the session works it out
        // from the register.
        let kwh = match (start, s.energy_wh) {
            (Some(start), Some(wh)) => ((wh - Decimal::from(start)) / Decimal::from(1000)).max(Decimal::ZERO),
            _ => Decimal::ZERO,
        };
        let voltage = s.voltage.unwrap_or_default();
        let current = s.current.unwrap_or_default();
        let power = s.power_w.unwrap_or(voltage * current).round_dp(1);
        // A transaction that ran offline is over: its values say nothing of now.
        let over = tx.and_then(|id| self.txs.get(&id)).is_some_and(|t| t.offline.is_some());
        let charging = tx.is_some() && !over;
        let status = match self.status.get(&port.0) {
            Some(s) if !charging => *s,
            _ if charging => PortStatus::Charging,
            _ => PortStatus::Idle,
        };
        Some(PortReport {
            port,
            status,
            session: m.transaction_id.map(|id| SessionId(id.to_string())),
            reading: Some(Reading {
                kwh: kwh.round_dp(3),
                voltage,
                current,
                power,
                soc: s.soc.and_then(|v| v.to_u8()),
                elapsed_s: None,
                temperature_c: s.temperature_c.and_then(|t| t.round().to_i16()),
                register_kwh: s.energy_wh.map(|wh| wh / Decimal::from(1000)),
                at: self.queued(sample.timestamp).then_some(sample.timestamp),
            }),
            faults: None,
        })
    }

    fn final_record(&self, m: &StopTransactionReq) -> FinalRecord {
        let tx = self.txs.get(&m.transaction_id);
        // Not seen on this link: the session bills from the register at its
        // start; this is for one the platform has no session of.
        let start_wh = tx.and_then(|t| t.meter_start_wh).or_else(|| begin_wh(m).map(|(wh, _)| wh));
        let kwh = start_wh.map_or(Decimal::ZERO, |start| {
            (Decimal::from(m.meter_stop - start) / Decimal::from(1000)).max(Decimal::ZERO)
        });
        // Started offline: when, and by whom. A transaction unknown here may
        // be one whose offline start an earlier link took: if the platform
        // has no session of it, it is billed from its own begin sample (else
        // as if it started when it ended).
        let offline = match tx {
            Some(t) => t.offline.clone(),
            None => Some((begin_wh(m).and_then(|(_, at)| at).unwrap_or(m.timestamp), String::new())),
        };
        let card_tag = m.id_tag.as_ref().map(card);
        let started_offline = offline.as_ref().map(|(at, _)| *at);
        let card_tag = card_tag.or_else(|| offline.map(|(_, c)| c).filter(|c| !c.is_empty()));
        let reason = m.reason.unwrap_or(ocpp::messages::StopReason::Local);
        let fault = match reason {
            ocpp::messages::StopReason::EmergencyStop => Some(Severity::Major),
            ocpp::messages::StopReason::PowerLoss => Some(Severity::Warning),
            _ => None,
        };
        FinalRecord {
            port: tx.map_or_else(|| self.guess_port(), |t| t.port),
            session: SessionId(m.transaction_id.to_string()),
            ended_at: m.timestamp,
            kwh,
            elapsed_s: None,
            amount: None,
            reason: StopReason { code: reason as u8, text: format!("{reason:?}") },
            fault,
            card: card_tag,
            started_offline,
            register_kwh: Some(Decimal::from(m.meter_stop) / Decimal::from(1000)),
        }
    }

    /// The connector of a transaction this link has not seen: the one
    /// charging, if one is (the platform corrects it from the session).
    fn guess_port(&self) -> PortNo {
        let charging = self.status.iter().find(|(_, s)| **s == PortStatus::Charging);
        PortNo(charging.map_or(1, |(p, _)| *p))
    }

    /// The answer to one of the platform's calls.
    fn on_answer(
        &mut self,
        id: &str,
        result: Result<Value, (ErrorCode, String)>,
        out: &mut Out<Frame>,
    ) -> Inbound {
        let Some(at) = id.parse::<u32>().ok().and_then(|k| self.calls.iter().position(|(c, _)| *c == k))
        else {
            return Inbound::Fault("ocpp_unexpected_answer");
        };
        let (_, call) = self.calls.swap_remove(at);
        let status = match &result {
            Ok(payload) => payload.get("status").and_then(Value::as_str).unwrap_or("").to_owned(),
            Err((code, text)) => format!("{} {text}", code.as_str()).trim_end().to_owned(),
        };
        let ok = result.is_ok() && status == "Accepted";
        match call {
            Call::RemoteStart { port, session } => {
                if !ok {
                    self.starting.retain(|(_, s)| *s != session);
                    let reason = Some(StopReason { code: 0, text: format!("charge point: {status}") });
                    out.events.push(PileEvent::StartResult { port, session, accepted: false, reason });
                }
            }
            Call::RemoteStop { port } => out.events.push(PileEvent::StopResult { port, accepted: ok }),
            Call::Maintain(kind) => {
                let (ok, answer) = match (result, kind) {
                    (Err(_), _) => (false, None),
                    // Answers with no status: taken, and what they say is kept.
                    (Ok(p), "get_configuration" | "get_local_list_version" | "get_diagnostics") => {
                        (true, Some(p))
                    }
                    (Ok(_), "firmware") => (true, None),
                    (Ok(_), "change_configuration") => {
                        (matches!(&*status, "Accepted" | "RebootRequired"), None)
                    }
                    (Ok(_), "unlock_connector") => (status == "Unlocked", None),
                    // Taken, once the running transactions end.
                    (Ok(_), "work_params") => (matches!(&*status, "Accepted" | "Scheduled"), None),
                    (Ok(p), "data_transfer") => (ok, Some(p)),
                    (Ok(_), _) => (ok, None),
                };
                out.events.push(PileEvent::MaintenanceResult { kind, ok, detail: status, answer })
            }
            Call::RateUnit => {
                self.amps = result.as_ref().is_ok_and(takes_only_current);
                tracing::debug!(pile = ?self.id, amps = self.amps, "charging-rate unit");
            }
            Call::Profile => {
                if !ok {
                    tracing::info!(pile = ?self.id, status, "charge point did not take a charging profile");
                }
            }
            // Scheduled: once the connector's transaction ends.
            Call::Availability => {
                if !matches!(&*status, "Accepted" | "Scheduled") {
                    tracing::info!(pile = ?self.id, status, "charge point did not take a connector's availability");
                }
            }
        }
        Inbound::Ok
    }

    fn maintenance(&mut self, m: Maintenance, out: &mut Out<Frame>) {
        let kind = m.kind();
        match m {
            Maintenance::Reboot { when_idle } => {
                let kind_ = if when_idle { ResetType::Soft } else { ResetType::Hard };
                self.call(&ResetReq { kind: kind_ }, Call::Maintain(kind), out);
            }
            Maintenance::WorkParams { enabled, .. } => {
                let kind_ = if enabled { AvailabilityType::Operative } else { AvailabilityType::Inoperative };
                self.call(&ChangeAvailabilityReq { connector_id: 0, kind: kind_ }, Call::Maintain(kind), out);
            }
            Maintenance::Refresh { port } => {
                let m = TriggerMessageReq {
                    requested_message: MessageTrigger::MeterValues,
                    connector_id: Some(port.into()),
                };
                self.call(&m, Call::Maintain(kind), out);
            }
            Maintenance::ChangeConfiguration { key, value } => {
                let m = ChangeConfigurationReq { key: key.as_str().into(), value: value.as_str().into() };
                self.call(&m, Call::Maintain(kind), out);
            }
            Maintenance::GetConfiguration { keys } => {
                let key = (!keys.is_empty()).then(|| keys.iter().map(|k| k.as_str().into()).collect());
                self.call(&GetConfigurationReq { key }, Call::Maintain(kind), out);
            }
            Maintenance::UnlockConnector { port } => {
                self.call(&UnlockConnectorReq { connector_id: port.into() }, Call::Maintain(kind), out);
            }
            Maintenance::Firmware { url, .. } => {
                let m = UpdateFirmwareReq {
                    location: url,
                    retries: None,
                    retrieve_date: self.now(),
                    retry_interval: None,
                };
                self.call(&m, Call::Maintain(kind), out);
            }
            Maintenance::GetDiagnostics { url } => {
                let m = GetDiagnosticsReq {
                    location: url,
                    retries: None,
                    retry_interval: None,
                    start_time: None,
                    stop_time: None,
                };
                self.call(&m, Call::Maintain(kind), out);
            }
            Maintenance::ClearCache => self.call(&ClearCacheReq {}, Call::Maintain(kind), out),
            Maintenance::GetLocalListVersion => {
                self.call(&GetLocalListVersionReq {}, Call::Maintain(kind), out)
            }
            // The offline list is the local authorization list: changed a
            // card at a time, each change a newer version.
            Maintenance::OfflineCardsSync { cards } | Maintenance::OfflineCardsClear { cards } => {
                let listed = matches!(kind, "offline_cards_sync");
                let info = listed.then(|| IdTagInfo::status(AuthorizationStatus::Accepted));
                let list = cards
                    .iter()
                    .map(|c| AuthorizationData { id_tag: c.as_str().into(), id_tag_info: info.clone() })
                    .collect();
                let m = SendLocalListReq {
                    list_version: list_version(self.now()),
                    local_authorization_list: Some(list),
                    update_type: UpdateType::Differential,
                };
                self.call(&m, Call::Maintain(kind), out);
            }
            Maintenance::DataTransfer { vendor_id, message_id, data } => {
                let m = DataTransferReq {
                    vendor_id: vendor_id.as_str().into(),
                    message_id: message_id.as_deref().map(Into::into),
                    data,
                };
                self.call(&m, Call::Maintain(kind), out);
            }
            Maintenance::TimeSync | Maintenance::QrPrefix { .. } => {
                tracing::warn!(kind, "maintenance an OCPP charge point cannot be asked for")
            }
        }
    }

    fn command(&mut self, command: PileCommand, out: &mut Out<Frame>) {
        match command {
            // The connection's login is answered when BootNotification
            // comes; a BootNotification that logged in again, here.
            PileCommand::LoginReply { accepted, reply } => {
                (self.accepted, self.pending) = (accepted, false);
                if let Some((id, Ask::Boot)) = self.take_ask(reply) {
                    let status =
                        if accepted { RegistrationStatus::Accepted } else { RegistrationStatus::Rejected };
                    self.boot_conf(id, status, out);
                }
            }
            PileCommand::StartCharge { port, session, order: Order { card: Some((_, reply)), .. } } => {
                let Some((id, Ask::Start { meter_start, .. })) = self.take_ask(reply) else { return };
                let conf = StartTransactionConf {
                    id_tag_info: IdTagInfo::status(AuthorizationStatus::Accepted),
                    transaction_id: transaction_id(&session),
                };
                out.replies.push(Frame::result(id, &conf));
                self.begin(port, session, meter_start, out);
            }
            PileCommand::StartCharge { port, session, .. } => {
                let m = RemoteStartTransactionReq {
                    connector_id: Some(port.0.into()),
                    id_tag: IdToken::from(session.as_str()),
                    charging_profile: None,
                };
                self.starting.retain(|(p, _)| *p != port);
                self.starting.push((port, session.clone()));
                self.call(&m, Call::RemoteStart { port, session }, out);
            }
            PileCommand::StopCharge { port, session } => {
                let m = RemoteStopTransactionReq { transaction_id: transaction_id(&session) };
                self.call(&m, Call::RemoteStop { port }, out);
            }
            PileCommand::CardVerdict { verdict: Err(why), reply, .. } => {
                let Some((id, ask)) = self.take_ask(reply) else { return };
                let info = IdTagInfo::status(refusal(why));
                match ask {
                    Ask::Start { .. } => out.replies.push(Frame::result(
                        id,
                        &StartTransactionConf { id_tag_info: info, transaction_id: 0 },
                    )),
                    _ => out.replies.push(Frame::result(id, &AuthorizeConf { id_tag_info: info })),
                }
            }
            PileCommand::CardBalance { balance, reply, .. } => {
                let Some((id, _)) = self.take_ask(reply) else { return };
                let status = match balance {
                    Ok(b) if b > Decimal::ZERO => AuthorizationStatus::Accepted,
                    Ok(_) => AuthorizationStatus::Blocked,
                    Err(why) => refusal(why),
                };
                out.replies
                    .push(Frame::result(id, &AuthorizeConf { id_tag_info: IdTagInfo::status(status) }));
            }
            PileCommand::AckRecord { accepted, reply, .. } => {
                let Some((id, ask)) = self.take_ask(reply) else { return };
                // Unanswered, the charge point sends its stop again later.
                if !accepted {
                    return;
                }
                if let Ask::Stop { tx } = ask {
                    self.txs.remove(&tx);
                }
                let conf = StopTransactionConf {
                    id_tag_info: Some(IdTagInfo::status(AuthorizationStatus::Accepted)),
                };
                out.replies.push(Frame::result(id, &conf));
            }
            PileCommand::PowerLimit { limits, .. } => {
                for (port, session, watts) in limits {
                    let m = charging_profile(port, session.as_ref().map(transaction_id), watts, self.amps);
                    self.call(&m, Call::Profile, out);
                }
            }
            PileCommand::Maintain(m) => self.maintenance(m, out),
            PileCommand::PortService { port, in_service } => {
                let kind =
                    if in_service { AvailabilityType::Operative } else { AvailabilityType::Inoperative };
                self.call(
                    &ChangeAvailabilityReq { connector_id: port.0.into(), kind },
                    Call::Availability,
                    out,
                );
            }
            // The charge point keeps its own time and prices nothing; the
            // platform bills the meter.
            PileCommand::CardVerdict { verdict: Ok(_), .. }
            | PileCommand::BalanceUpdate { .. }
            | PileCommand::Protections(_)
            | PileCommand::Adjust { .. }
            | PileCommand::PushTariff { .. }
            | PileCommand::TariffCheckReply { .. }
            | PileCommand::Tariff { .. } => {}
        }
    }
}

/// The configuration key naming the units a charge point takes limits in.
const RATE_UNIT_KEY: &str = "ChargingScheduleAllowedChargingRateUnit";

/// Phase voltage an A limit is worked out at, V.
const PHASE_VOLTS: u32 = 230;
/// Phases an A limit is spread over (OCPP assumes 3 where a profile does
/// not say); a single-phase charge point then draws a third of the grant,
/// which never overloads the station.
const PHASES: u32 = 3;

/// Whether a GetConfiguration answer says the charge point takes only
/// Current (A) limits: its value lists Current and not Power.
fn takes_only_current(conf: &Value) -> bool {
    let keys = conf.get("configurationKey").and_then(Value::as_array);
    let value = keys
        .into_iter()
        .flatten()
        .find(|k| k.get("key").and_then(Value::as_str) == Some(RATE_UNIT_KEY))
        .and_then(|k| k.get("value").and_then(Value::as_str));
    value.is_some_and(|v| {
        let units: Vec<&str> = v.split(',').map(str::trim).collect();
        units.iter().any(|u| u.eq_ignore_ascii_case("Current"))
            && !units.iter().any(|u| u.eq_ignore_ascii_case("Power"))
    })
}

/// A charging profile holding a connector to `watts` (in A per phase,
/// `amps`, for a charge point that takes only Current): the transaction's
/// own (TxProfile) while one runs, else the connector's default.
pub fn charging_profile(port: PortNo, tx: Option<i32>, watts: Decimal, amps: bool) -> SetChargingProfileReq {
    let (unit, limit, phases) = match amps {
        true => (ChargingRateUnit::A, watts / Decimal::from(PHASE_VOLTS * PHASES), Some(PHASES as u8)),
        false => (ChargingRateUnit::W, watts, None),
    };
    let purpose = match tx {
        Some(_) => ChargingProfilePurpose::TxProfile,
        None => ChargingProfilePurpose::TxDefaultProfile,
    };
    SetChargingProfileReq {
        connector_id: port.0.into(),
        cs_charging_profiles: ChargingProfile {
            // One profile per connector, replaced by the next.
            charging_profile_id: i32::from(port.0) + 1,
            transaction_id: tx,
            stack_level: 0,
            charging_profile_purpose: purpose,
            charging_profile_kind: ChargingProfileKind::Relative,
            recurrency_kind: None,
            valid_from: None,
            valid_to: None,
            charging_schedule: ChargingSchedule {
                duration: None,
                start_schedule: None,
                charging_rate_unit: unit,
                charging_schedule_period: vec![ChargingSchedulePeriod {
                    start_period: 0,
                    limit: limit.round_dp(1).to_f64().unwrap_or(0.0),
                    number_phases: phases,
                }],
                min_charging_rate: None,
            },
        },
    }
}

/// The meter at a transaction's start, and when, from its
/// Transaction.Begin sample.
fn begin_wh(m: &StopTransactionReq) -> Option<(i64, Option<DateTime<Utc>>)> {
    let data = m.transaction_data.as_ref()?;
    let begin = data
        .iter()
        .find(|v| v.sampled_value.iter().any(|s| s.context == Some(ReadingContext::TransactionBegin)))?;
    Some((Samples::read(begin).energy_wh?.to_i64()?, Some(begin.timestamp)))
}

/// What one MeterValue says, in the platform's units.
#[derive(Default)]
struct Samples {
    energy_wh: Option<Decimal>,
    power_w: Option<Decimal>,
    voltage: Option<Decimal>,
    current: Option<Decimal>,
    soc: Option<Decimal>,
    temperature_c: Option<Decimal>,
}

impl Samples {
    /// Per-phase values add up for power and current where no total is
    /// given; a voltage is the first phase's.
    fn read(v: &MeterValue) -> Self {
        let mut s = Samples::default();
        let (mut power_phases, mut current_phases) = (None::<Decimal>, None::<Decimal>);
        for sv in &v.sampled_value {
            let Ok(value) = sv.value.trim().parse::<Decimal>() else { continue };
            let phased = sv.phase.is_some();
            let scale = |unit: Option<UnitOfMeasure>, default: UnitOfMeasure| match unit.unwrap_or(default) {
                UnitOfMeasure::KWh | UnitOfMeasure::KW => value * Decimal::from(1000),
                _ => value,
            };
            match sv.measurand.unwrap_or(Measurand::EnergyActiveImportRegister) {
                Measurand::EnergyActiveImportRegister if !phased => {
                    s.energy_wh = Some(scale(sv.unit, UnitOfMeasure::Wh))
                }
                Measurand::PowerActiveImport => {
                    let w = scale(sv.unit, UnitOfMeasure::W);
                    match phased {
                        false => s.power_w = Some(w),
                        true => *power_phases.get_or_insert(Decimal::ZERO) += w,
                    }
                }
                Measurand::CurrentImport => match phased {
                    false => s.current = Some(value),
                    true => *current_phases.get_or_insert(Decimal::ZERO) += value,
                },
                Measurand::Voltage => {
                    s.voltage.get_or_insert(value);
                }
                Measurand::SoC => s.soc = Some(value),
                Measurand::Temperature => {
                    let c = match sv.unit {
                        Some(UnitOfMeasure::Fahrenheit) => {
                            (value - Decimal::from(32)) * Decimal::from(5) / Decimal::from(9)
                        }
                        Some(UnitOfMeasure::K) => value - Decimal::from_f64(273.15).unwrap_or_default(),
                        _ => value,
                    };
                    s.temperature_c = Some(c);
                }
                _ => {}
            }
        }
        s.power_w = s.power_w.or(power_phases);
        s.current = s.current.or(current_phases);
        s
    }
}

/// A card number as the platform keeps it: the idTag, upper case.
fn card(tag: &IdToken) -> String {
    tag.as_str().trim().to_ascii_uppercase()
}

fn refusal(why: CardRefusal) -> AuthorizationStatus {
    match why {
        CardRefusal::Unknown => AuthorizationStatus::Invalid,
        CardRefusal::Unsettled | CardRefusal::Busy => AuthorizationStatus::ConcurrentTx,
        CardRefusal::Frozen
        | CardRefusal::BalanceTooLow
        | CardRefusal::NotAllowedHere
        | CardRefusal::CapacityShort
        | CardRefusal::Unavailable => AuthorizationStatus::Blocked,
    }
}

/// The alarm a StatusNotification's errorCode raises, and how serious.
fn fault(code: ChargePointErrorCode) -> Option<(&'static str, Severity)> {
    use ChargePointErrorCode as E;
    Some(match code {
        E::NoError => return None,
        E::GroundFailure => ("ground_failure", Severity::Critical),
        E::HighTemperature => ("over_temperature", Severity::Critical),
        E::OverCurrentFailure => ("over_current", Severity::Major),
        E::OverVoltage => ("over_voltage", Severity::Major),
        E::UnderVoltage => ("under_voltage", Severity::Warning),
        E::PowerSwitchFailure => ("power_switch_failure", Severity::Major),
        E::PowerMeterFailure => ("meter_failure", Severity::Major),
        E::ConnectorLockFailure => ("connector_lock_failure", Severity::Major),
        E::InternalError => ("internal_error", Severity::Major),
        E::EVCommunicationError => ("ev_communication_error", Severity::Warning),
        E::ReaderFailure => ("card_reader_failure", Severity::Warning),
        E::ResetFailure => ("reset_failure", Severity::Warning),
        E::OtherError => ("other_error", Severity::Warning),
        E::WeakSignal => ("weak_signal", Severity::Info),
        E::LocalListConflict => ("local_list_conflict", Severity::Info),
    })
}

/// A session's transactionId: the session id is that integer.
fn transaction_id(session: &SessionId) -> i32 {
    session.as_str().parse().unwrap_or(0)
}

/// Whether an OCPP charge point can be asked for `m`, within the bounds
/// the OCPP schemas set.
pub fn check_maintenance(m: &Maintenance) -> Result<(), String> {
    let at_most = |what: &str, s: &str, n: usize| match s.chars().count() <= n {
        true => Ok(()),
        false => Err(format!("{what} is at most {n} characters")),
    };
    match m {
        Maintenance::TimeSync | Maintenance::QrPrefix { .. } => {
            Err(format!("{} is not a command OCPP charge points take", m.kind()))
        }
        Maintenance::ChangeConfiguration { key, value } => {
            at_most("a key", key, 50)?;
            at_most("a value", value, 500)
        }
        Maintenance::GetConfiguration { keys } => keys.iter().try_for_each(|k| at_most("a key", k, 50)),
        Maintenance::Firmware { url, .. } | Maintenance::GetDiagnostics { url } if url.is_empty() => {
            Err("a URL to fetch from or upload to".into())
        }
        Maintenance::OfflineCardsSync { cards } | Maintenance::OfflineCardsClear { cards } => {
            if cards.is_empty() {
                return Err("at least one card".into());
            }
            cards.iter().try_for_each(|c| at_most("an idTag", c, 20))
        }
        Maintenance::DataTransfer { vendor_id, message_id, .. } => {
            at_most("vendor_id", vendor_id, 255)?;
            message_id.as_deref().map_or(Ok(()), |id| at_most("message_id", id, 50))
        }
        _ => Ok(()),
    }
}

/// A local list version: seconds since 2025, so each change is newer than
/// the last (the charge point keeps the number).
fn list_version(now: DateTime<Utc>) -> i32 {
    let since = now.timestamp() - 1_735_689_600;
    since.clamp(1, i32::MAX as i64) as i32
}

/// A new session's id: a positive 32-bit integer, OCPP's transactionId.
/// Tenths of a second since 2025, never repeating within the process, so
/// ids from a restarted platform start past the old ones unless it minted
/// more than ten a second on average (good until 2031).
pub fn session_id() -> SessionId {
    static LAST: AtomicU64 = AtomicU64::new(0);
    const EPOCH_MS: u64 = 1_735_689_600_000;
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let now = ms.saturating_sub(EPOCH_MS) / 100;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = ((last + 1).max(now) - 1) % (i32::MAX as u64) + 1;
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return SessionId(next.to_string()),
            Err(seen) => last = seen,
        }
    }
}

impl Adapter for Ocpp {
    type Frame = Frame;
    type DecodeItem = Result<Frame, Malformed>;
    type Fatal = std::io::Error;
    type Codec = PipeCodec;

    const PROTOCOL: Protocol = Protocol::Ocpp;
    const ONE_IN_FLIGHT: bool = true;

    fn new(clock: Clock) -> Self {
        let opened_at = clock.now();
        Ocpp {
            id: None,
            clock,
            heartbeat_s: 300,
            accepted: false,
            pending: false,
            retry_s: 60,
            amps: false,
            asked_unit: false,
            next_call: 0,
            calls: Vec::new(),
            next_ask: 0,
            asks: Vec::new(),
            starting: Vec::new(),
            status: HashMap::new(),
            txs: HashMap::new(),
            opened_at,
            clock_slack: chrono::Duration::seconds(60),
        }
    }

    fn codec() -> PipeCodec {
        // The WebSocket task enforces the configured limit; this one only
        // guards the pipe.
        PipeCodec::new(16 * 1024 * 1024)
    }

    /// OCPP times are UTC.
    fn set_utc_offset(&mut self, _: FixedOffset) {}

    fn opened(&mut self, out: &mut Out<Frame>) {
        self.opened_at = self.clock.now();
        if let Some(pile) = self.id.clone() {
            let info = LoginInfo { pile, ports: 1, firmware: String::new() };
            out.events.push(PileEvent::Login(info, ReplyTo(0)));
        }
    }

    fn inbound(&mut self, item: Result<Frame, Malformed>, out: &mut Out<Frame>) -> Inbound {
        match item {
            Err(m) => {
                if let (true, Some(id)) = (m.call, m.id) {
                    out.replies.push(Frame::error(id, m.code, m.description));
                }
                Inbound::Fault(m.code.label())
            }
            Ok(Frame::Call { id, action, payload }) => self.on_call(id, &action, payload, out),
            Ok(Frame::Result { id, payload }) => self.on_answer(&id, Ok(payload), out),
            Ok(Frame::Error { id, code, description, .. }) => {
                self.on_answer(&id, Err((code, description)), out)
            }
        }
    }

    fn outbound(&mut self, command: PileCommand, out: &mut Out<Frame>) {
        self.command(command, out);
    }

    /// The platform is not ready: Pending, and the next BootNotification
    /// logs in again.
    fn login_later(&mut self, reply: ReplyTo, out: &mut Out<Frame>) -> bool {
        self.pending = true;
        if let Some((id, Ask::Boot)) = self.take_ask(reply) {
            self.boot_conf(id, RegistrationStatus::Pending, out);
        }
        true
    }

    fn awaits_answer(frame: &Frame) -> Option<u32> {
        match frame {
            Frame::Call { id, .. } => id.parse().ok(),
            _ => None,
        }
    }

    fn answers(item: &Result<Frame, Malformed>) -> Option<u32> {
        match item {
            Ok(Frame::Result { id, .. } | Frame::Error { id, .. }) => id.parse().ok(),
            _ => None,
        }
    }

    fn timed_out(&mut self, key: u32, out: &mut Out<Frame>) {
        let id = key.to_string();
        self.on_answer(&id, Err((ErrorCode::GenericError, "no answer in time".into())), out);
    }

    fn item_type(item: &Result<Frame, Malformed>) -> Option<u8> {
        item.as_ref().ok().map(Frame::kind)
    }

    fn frame_type(frame: &Frame) -> u8 {
        frame.kind()
    }

    fn fatal_label(_: &std::io::Error) -> &'static str {
        "ocpp_pipe"
    }
}

#[cfg(test)]
mod tests;
