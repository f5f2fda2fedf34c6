//! The charging-session state machine, free of actors and I/O.
//!
//! A session is one charge on one port. The platform mints its id, asks the
//! pile to start, meters it from the pile's readings, asks it to stop (or the
//! pile stops by itself), and bills it when the pile's final record arrives.
//! Every transition is a method here; the session actor persists the record
//! after each one, so a restart resumes from the last durable state.

use chrono::{DateTime, FixedOffset, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::{PileId, PortNo, SessionId, StationId, TariffId};
use crate::tariff::{Bill, PeriodEnergy, TouPrices};

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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopReason {
    pub code: u8,
    pub text: String,
}

/// The durable record of a session; storage keeps exactly this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: SessionId,
    pub pile_id: PileId,
    pub port: PortNo,
    pub station_id: StationId,
    pub tariff_id: TariffId,
    pub state: SessionState,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub stop_reason: Option<StopReason>,
    /// Energy the platform has metered, split by tariff period.
    pub energy: PeriodEnergy,
    /// The last meter reading: when, and the session's energy so far (kWh).
    pub last_reading: Option<(DateTime<Utc>, Decimal)>,
}

/// One meter reading of a session, as stored.
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
        tariff_id: TariffId,
        now: DateTime<Utc>,
    ) -> Self {
        SessionRecord {
            id,
            pile_id,
            port,
            station_id,
            tariff_id,
            state: SessionState::Starting,
            created_at: now,
            started_at: None,
            ended_at: None,
            stop_reason: None,
            energy: PeriodEnergy::default(),
            last_reading: None,
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
            self.last_reading = Some((now, Decimal::ZERO));
        } else {
            self.state = SessionState::Failed;
            self.ended_at = Some(now);
            self.stop_reason = reason;
        }
        Ok(())
    }

    /// A meter reading: `kwh` delivered since the start, read at `at`. The
    /// energy since the previous reading is split over the tariff periods the
    /// interval spans. A reading below the previous one (a meter glitch)
    /// adds nothing and does not move the baseline down.
    pub fn reading(
        &mut self,
        tou: &TouPrices,
        offset: FixedOffset,
        at: DateTime<Utc>,
        kwh: Decimal,
    ) -> Result<(), Rejected> {
        if !matches!(self.state, SessionState::Charging | SessionState::Stopping) {
            return Err(self.reject("take a meter reading"));
        }
        let (prev_at, prev_kwh) = self.last_reading.unwrap_or((at, Decimal::ZERO));
        if kwh > prev_kwh {
            self.energy.add(tou, offset, prev_at, at.max(prev_at), kwh - prev_kwh);
            self.last_reading = Some((at.max(prev_at), kwh));
        } else {
            self.last_reading = Some((at.max(prev_at), prev_kwh));
        }
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

    /// The pile's final record: the session's total energy at `end`. Closes
    /// the metering with it and prices the session.
    pub fn finish(
        &mut self,
        tou: &TouPrices,
        offset: FixedOffset,
        end: DateTime<Utc>,
        total_kwh: Decimal,
        reason: StopReason,
    ) -> Result<Bill, Rejected> {
        if !matches!(self.state, SessionState::Charging | SessionState::Stopping) {
            return Err(self.reject("finish"));
        }
        self.reading(tou, offset, end, total_kwh)?;
        self.state = SessionState::Finished;
        self.ended_at = Some(end);
        self.stop_reason = Some(reason);
        Ok(tou.bill(&self.id, self.tariff_id, &self.energy))
    }

    /// Energy metered so far, kWh.
    pub fn kwh(&self) -> Decimal {
        self.last_reading.map(|(_, k)| k).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tariff::Period;
    use rust_decimal_macros::dec;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).unwrap()
    }

    fn peak_then_valley() -> TouPrices {
        let mut t = TouPrices::flat(dec!(1), dec!(0.5));
        t.slots[24..].fill(Period::Valley);
        t.slots[..24].fill(Period::Peak);
        t.prices[Period::Valley.index()].energy = dec!(0.4);
        t
    }

    fn session() -> SessionRecord {
        SessionRecord::new(
            SessionId("1".into()),
            PileId::from("p"),
            PortNo(1),
            1,
            1,
            at("2026-01-01T11:00:00Z"),
        )
    }

    #[test]
    fn a_charge_across_two_periods_is_billed_per_period() {
        let tou = peak_then_valley();
        let mut s = session();
        s.start_result(true, at("2026-01-01T11:50:00Z"), None).unwrap();
        s.reading(&tou, utc(), at("2026-01-01T11:55:00Z"), dec!(5)).unwrap();
        s.reading(&tou, utc(), at("2026-01-01T12:05:00Z"), dec!(5)).unwrap();
        s.stopping().unwrap();
        let bill = s
            .finish(
                &tou,
                utc(),
                at("2026-01-01T12:10:00Z"),
                dec!(8),
                StopReason { code: 0x40, text: "app stop".into() },
            )
            .unwrap();
        assert_eq!(s.state, SessionState::Finished);
        assert_eq!(s.energy.kwh(Period::Peak), dec!(5));
        assert_eq!(s.energy.kwh(Period::Valley), dec!(3));
        // 5 × 1.5 + 3 × 0.9 = 10.20
        assert_eq!(bill.total, dec!(10.20));
    }

    #[test]
    fn refused_start_fails_the_session() {
        let mut s = session();
        s.start_result(
            false,
            at("2026-01-01T11:00:01Z"),
            Some(StopReason { code: 5, text: "not plugged".into() }),
        )
        .unwrap();
        assert_eq!(s.state, SessionState::Failed);
        assert!(!s.state.is_open());
        assert!(s.stopping().is_err());
    }

    #[test]
    fn meter_going_backwards_adds_nothing() {
        let tou = peak_then_valley();
        let mut s = session();
        s.start_result(true, at("2026-01-01T11:00:00Z"), None).unwrap();
        s.reading(&tou, utc(), at("2026-01-01T11:01:00Z"), dec!(2)).unwrap();
        s.reading(&tou, utc(), at("2026-01-01T11:02:00Z"), dec!(1)).unwrap();
        s.reading(&tou, utc(), at("2026-01-01T11:03:00Z"), dec!(3)).unwrap();
        assert_eq!(s.energy.total(), dec!(3));
        assert_eq!(s.kwh(), dec!(3));
    }

    #[test]
    fn finished_session_takes_no_more_transitions() {
        let tou = peak_then_valley();
        let mut s = session();
        s.start_result(true, at("2026-01-01T11:00:00Z"), None).unwrap();
        s.finish(
            &tou,
            utc(),
            at("2026-01-01T11:10:00Z"),
            dec!(1),
            StopReason { code: 0x45, text: "x".into() },
        )
        .unwrap();
        assert!(s.reading(&tou, utc(), at("2026-01-01T11:11:00Z"), dec!(2)).is_err());
        assert!(s
            .finish(
                &tou,
                utc(),
                at("2026-01-01T11:12:00Z"),
                dec!(2),
                StopReason { code: 0x45, text: "x".into() }
            )
            .is_err());
        assert!(s.start_result(true, at("2026-01-01T11:12:00Z"), None).is_err());
    }
}
