//! The charging-session state machine, free of actors and I/O.
//!
//! A session is one charge on one port. The platform mints its id, asks the
//! pile to start, meters it from the pile's readings, asks it to stop (or the
//! pile stops by itself), and bills it when the pile's final record arrives.
//! Every transition is a method here; the session actor persists the record
//! after each one, so a restart resumes from the last durable state.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::pricing::{Bill, Meter, Reading, Terms};
use vocab::{PileId, PortNo, SessionId, StationId};

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Start command sent; waiting for the pile to accept.
    Starting,
    Charging,
    /// Stop command sent or the pile reported it stopped; waiting for its record.
    Stopping,
    /// Billed.
    Finished,
    /// Never started (refused or no answer); nothing to bill.
    Failed,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Starting => "starting",
            SessionState::Charging => "charging",
            SessionState::Stopping => "stopping",
            SessionState::Finished => "finished",
            SessionState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "starting" => SessionState::Starting,
            "charging" => SessionState::Charging,
            "stopping" => SessionState::Stopping,
            "finished" => SessionState::Finished,
            "failed" => SessionState::Failed,
            _ => return None,
        })
    }

    pub fn is_open(self) -> bool {
        matches!(self, SessionState::Starting | SessionState::Charging | SessionState::Stopping)
    }
}

/// Why a charge ended: the protocol's code and its meaning.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopReason {
    pub code: u8,
    pub text: String,
}

/// The durable record of a session; storage keeps exactly this.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: SessionId,
    pub pile_id: PileId,
    pub port: PortNo,
    pub station_id: StationId,
    /// What the charge is priced under, fixed at start.
    #[cfg_attr(feature = "utoipa", schema(value_type = Object))]
    pub terms: Terms,
    pub state: SessionState,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub stop_reason: Option<StopReason>,
    /// What the charge has used, by the platform's own metering.
    #[cfg_attr(feature = "utoipa", schema(value_type = Object))]
    pub meter: Meter,
}

/// One meter reading of a session, as stored.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterSample {
    pub session_id: SessionId,
    pub at: DateTime<Utc>,
    /// Energy delivered since the session started, kWh.
    pub kwh: Decimal,
    pub voltage: Decimal,
    pub current: Decimal,
    /// Power, W.
    pub power: Decimal,
    pub soc: Option<u8>,
}

/// A transition that the current state does not allow.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("session {id} cannot {action} while {state}")]
pub struct Rejected {
    pub id: SessionId,
    pub action: &'static str,
    pub state: &'static str,
}

impl SessionRecord {
    pub fn new(
        id: SessionId,
        pile_id: PileId,
        port: PortNo,
        station_id: StationId,
        terms: Terms,
        now: DateTime<Utc>,
    ) -> Self {
        SessionRecord {
            id,
            pile_id,
            port,
            station_id,
            terms,
            state: SessionState::Starting,
            created_at: now,
            started_at: None,
            ended_at: None,
            stop_reason: None,
            meter: Meter::default(),
        }
    }

    fn reject(&self, action: &'static str) -> Rejected {
        Rejected { id: self.id.clone(), action, state: self.state.as_str() }
    }

    /// The pile answered the start command.
    pub fn start_result(
        &mut self,
        accepted: bool,
        now: DateTime<Utc>,
        reason: Option<StopReason>,
    ) -> Result<(), Rejected> {
        if self.state != SessionState::Starting {
            return Err(self.reject("take a start result"));
        }
        if accepted {
            self.state = SessionState::Charging;
            self.started_at = Some(now);
            self.meter.last_at = Some(now);
        } else {
            self.state = SessionState::Failed;
            self.ended_at = Some(now);
            self.stop_reason = reason;
        }
        Ok(())
    }

    /// A meter reading: `kwh` delivered since the start, read at `at`, at an
    /// average `power` (W) since the last reading. `elapsed_s` is the pile's
    /// own charging timer where its protocol reports one; without it the
    /// platform's clock since the start counts.
    pub fn reading(
        &mut self,
        at: DateTime<Utc>,
        kwh: Decimal,
        power: Decimal,
        elapsed_s: Option<u32>,
    ) -> Result<(), Rejected> {
        if !matches!(self.state, SessionState::Charging | SessionState::Stopping) {
            return Err(self.reject("take a meter reading"));
        }
        let elapsed_s = elapsed_s.unwrap_or_else(|| {
            let since = self.started_at.map_or(0, |s| (at - s).num_seconds());
            u32::try_from(since).unwrap_or(0)
        });
        self.meter.read(&self.terms.pricing, self.terms.offset(), Reading { at, kwh, power, elapsed_s });
        Ok(())
    }

    /// A stop was asked for or reported; the record is still to come.
    pub fn stopping(&mut self) -> Result<(), Rejected> {
        match self.state {
            SessionState::Charging => {
                self.state = SessionState::Stopping;
                Ok(())
            }
            SessionState::Stopping => Ok(()),
            _ => Err(self.reject("stop")),
        }
    }

    /// The pile's final record: the session's totals at `end`. Closes the
    /// metering with them and prices the session.
    pub fn finish(
        &mut self,
        end: DateTime<Utc>,
        kwh: Decimal,
        elapsed_s: Option<u32>,
        reason: StopReason,
    ) -> Result<Bill, Rejected> {
        if !matches!(self.state, SessionState::Charging | SessionState::Stopping) {
            return Err(self.reject("finish"));
        }
        // The last reading's power carries over to the final interval.
        let power = self.meter.last_power;
        self.reading(end, kwh, power, elapsed_s)?;
        self.state = SessionState::Finished;
        self.ended_at = Some(end);
        self.stop_reason = Some(reason);
        Ok(self.terms.bill(&self.id, &self.meter))
    }

    /// Energy metered so far, kWh.
    pub fn kwh(&self) -> Decimal {
        self.meter.kwh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::Pricing;
    use crate::tariff::{Period, TouPrices};
    use rust_decimal_macros::dec;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn peak_then_valley() -> Terms {
        let mut t = TouPrices::flat(dec!(1), dec!(0.5));
        t.slots[24..].fill(Period::Valley);
        t.slots[..24].fill(Period::Peak);
        t.prices[Period::Valley.index()].energy = dec!(0.4);
        Terms {
            pricing: Pricing::TimeOfUse { tariff_id: 1, tou: t },
            plan_id: None,
            prepaid: None,
            service_fee: Decimal::ZERO,
            minimum: Decimal::ZERO,
            utc_offset_minutes: 0,
            discount: None,
            payer: None,
            merchant_id: None,
        }
    }

    fn session() -> SessionRecord {
        SessionRecord::new(
            SessionId("1".into()),
            PileId::from("p"),
            PortNo(1),
            1,
            peak_then_valley(),
            at("2026-01-01T11:00:00Z"),
        )
    }

    fn stop() -> StopReason {
        StopReason { code: 0x40, text: "app stop".into() }
    }

    #[test]
    fn a_charge_across_two_periods_is_billed_per_period() {
        let mut s = session();
        s.start_result(true, at("2026-01-01T11:50:00Z"), None).unwrap();
        s.reading(at("2026-01-01T11:55:00Z"), dec!(5), dec!(7000), None).unwrap();
        s.reading(at("2026-01-01T12:05:00Z"), dec!(5), dec!(0), None).unwrap();
        s.stopping().unwrap();
        let bill = s.finish(at("2026-01-01T12:10:00Z"), dec!(8), None, stop()).unwrap();
        assert_eq!(s.state, SessionState::Finished);
        assert_eq!(s.meter.energy.kwh(Period::Peak), dec!(5));
        assert_eq!(s.meter.energy.kwh(Period::Valley), dec!(3));
        assert_eq!(s.meter.elapsed_s, 20 * 60);
        // 5 × 1.5 + 3 × 0.9 = 10.20
        assert_eq!(bill.total, dec!(10.20));
        assert_eq!(bill.energy_amount, dec!(6.2));
        assert_eq!(bill.service_amount, dec!(4.0));
    }

    #[test]
    fn refused_start_fails_the_session() {
        let mut s = session();
        let reason = StopReason { code: 5, text: "not plugged".into() };
        s.start_result(false, at("2026-01-01T11:00:01Z"), Some(reason)).unwrap();
        assert_eq!(s.state, SessionState::Failed);
        assert!(!s.state.is_open());
        assert!(s.stopping().is_err());
    }

    #[test]
    fn meter_going_backwards_adds_nothing() {
        let mut s = session();
        s.start_result(true, at("2026-01-01T11:00:00Z"), None).unwrap();
        s.reading(at("2026-01-01T11:01:00Z"), dec!(2), dec!(0), None).unwrap();
        s.reading(at("2026-01-01T11:02:00Z"), dec!(1), dec!(0), None).unwrap();
        s.reading(at("2026-01-01T11:03:00Z"), dec!(3), dec!(0), None).unwrap();
        assert_eq!(s.meter.energy.total(), dec!(3));
        assert_eq!(s.kwh(), dec!(3));
    }

    #[test]
    fn finished_session_takes_no_more_transitions() {
        let mut s = session();
        s.start_result(true, at("2026-01-01T11:00:00Z"), None).unwrap();
        s.finish(at("2026-01-01T11:10:00Z"), dec!(1), None, stop()).unwrap();
        assert!(s.reading(at("2026-01-01T11:11:00Z"), dec!(2), dec!(0), None).is_err());
        assert!(s.finish(at("2026-01-01T11:12:00Z"), dec!(2), None, stop()).is_err());
        assert!(s.start_result(true, at("2026-01-01T11:12:00Z"), None).is_err());
    }
}
