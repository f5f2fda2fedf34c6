//! Statistics for operators: what each station's charges came to per local
//! day (count, time, energy, revenue, and energy by time-of-use period),
//! alarms counted by pile and kind, and any of these as CSV.
//!
//! Backends only find a station's billed charges and alarms in a span of
//! time; the sums are made here, once, so both backends report the same
//! figures. Days are the station's local days (by its current
//! `utc_offset_minutes`): a charge counts on the day it ended, the day its
//! bill was made (as in settlement), an alarm on the day it was raised.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::accounts::Driver;
use crate::pricing::{Bill, BillLine};
use crate::session::SessionRecord;
use crate::settlement::day_bounds;
use crate::tariff::Period;
use vocab::{PileId, StationId};

/// Energy and its list price in one time-of-use period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodSum {
    pub period: Period,
    pub kwh: Decimal,
    /// Energy and service at list price (before discounts), yuan.
    pub amount: Decimal,
}

fn no_periods() -> [PeriodSum; 4] {
    Period::ALL.map(|period| PeriodSum { period, kwh: Decimal::ZERO, amount: Decimal::ZERO })
}

/// What a report needs of one billed charge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub station_id: StationId,
    pub ended_at: DateTime<Utc>,
    pub seconds: u32,
    pub kwh: Decimal,
    /// What the driver pays: the bill's total, corrections included.
    pub revenue: Decimal,
    /// Time-of-use charges only; zero for other pricing.
    pub periods: [PeriodSum; 4],
}

impl Charge {
    pub fn new(station_id: StationId, ended_at: DateTime<Utc>, bill: &Bill) -> Charge {
        Charge::from_lines(station_id, ended_at, bill.seconds, bill.kwh, bill.total, &bill.lines)
    }

    /// A finished session and its bill in force.
    pub fn of(session: &SessionRecord, bill: &Bill) -> Charge {
        Charge::new(session.station_id, session.ended_at.unwrap_or(session.created_at), bill)
    }

    /// From a bill's stored columns, for backends that keep them apart.
    pub fn from_lines(
        station_id: StationId,
        ended_at: DateTime<Utc>,
        seconds: u32,
        kwh: Decimal,
        revenue: Decimal,
        lines: &[BillLine],
    ) -> Charge {
        let mut periods = no_periods();
        for line in lines {
            if let BillLine::Period { period, kwh, amount, .. } = line {
                let sum = &mut periods[period.index()];
                sum.kwh += kwh;
                sum.amount += amount;
            }
        }
        Charge { station_id, ended_at, seconds, kwh, revenue, periods }
    }
}

/// A station's charges on one of its local days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationDay {
    pub station_id: StationId,
    pub day: NaiveDate,
    pub charges: u32,
    /// Time charged, by the bills.
    pub seconds: u64,
    pub kwh: Decimal,
    pub revenue: Decimal,
    pub periods: [PeriodSum; 4],
}

/// The local day of an instant at a station `offset_minutes` from UTC.
pub fn local_day(at: DateTime<Utc>, offset_minutes: i32) -> NaiveDate {
    (at + Duration::minutes(offset_minutes.into())).date_naive()
}

/// `[start, end)` in UTC of the local days `[from, until)`.
pub fn window(from: NaiveDate, until: NaiveDate, offset_minutes: i32) -> (DateTime<Utc>, DateTime<Utc>) {
    (day_bounds(from, offset_minutes).0, day_bounds(until, offset_minutes).0)
}

/// Each station once, in order: a report counts a station's charges once
/// however often it is asked for.
pub fn distinct(stations: &[StationId]) -> Vec<StationId> {
    let mut ids = stations.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Sums charges into station days, keeping only the local days `[from, until)`.
pub struct Days {
    from: NaiveDate,
    until: NaiveDate,
    days: BTreeMap<(StationId, NaiveDate), StationDay>,
}

impl Days {
    pub fn new(from: NaiveDate, until: NaiveDate) -> Days {
        Days { from, until, days: BTreeMap::new() }
    }

    /// Adds a charge of a station `offset_minutes` from UTC.
    pub fn add(&mut self, offset_minutes: i32, c: &Charge) {
        let day = local_day(c.ended_at, offset_minutes);
        if day < self.from || day >= self.until {
            return;
        }
        let d = self.days.entry((c.station_id, day)).or_insert_with(|| StationDay {
            station_id: c.station_id,
            day,
            charges: 0,
            seconds: 0,
            kwh: Decimal::ZERO,
            revenue: Decimal::ZERO,
            periods: no_periods(),
        });
        d.charges += 1;
        d.seconds += u64::from(c.seconds);
        d.kwh += c.kwh;
        d.revenue += c.revenue;
        for (sum, add) in d.periods.iter_mut().zip(&c.periods) {
            sum.kwh += add.kwh;
            sum.amount += add.amount;
        }
    }

    /// By station, then day; days without charges are left out.
    pub fn into_vec(self) -> Vec<StationDay> {
        self.days.into_values().collect()
    }
}

/// Alarms of one kind at a pile (or station-wide, without one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCount {
    pub station_id: StationId,
    pub pile_id: Option<PileId>,
    pub kind: String,
    pub alarms: u32,
}

/// Counts alarms given as (station, pile, kind), by station, pile, then kind.
pub fn count_faults(
    alarms: impl IntoIterator<Item = (StationId, Option<PileId>, String)>,
) -> Vec<FaultCount> {
    let mut counts: BTreeMap<_, u32> = BTreeMap::new();
    for key in alarms {
        *counts.entry(key).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((station_id, pile_id, kind), alarms)| FaultCount { station_id, pile_id, kind, alarms })
        .collect()
}

/// A report's row, for CSV: its columns' names and its cells.
pub trait Row {
    const HEADER: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

/// RFC 4180 text: a header line, then a line per row, CRLF-ended, quoted
/// where needed (the `csv` crate). A cell a spreadsheet would run as a
/// formula (starting `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`,
/// unless it is a plain number such as `-1.50`, which cannot be one.
pub fn csv<R: Row>(rows: &[R]) -> String {
    let mut w = ::csv::WriterBuilder::new().terminator(::csv::Terminator::CRLF).from_writer(Vec::new());
    let header = w.write_record(R::HEADER);
    let rows =
        rows.iter().try_for_each(|row| w.write_record(row.cells().iter().map(|c| defused(c).into_owned())));
    header.and(rows).expect("writing CSV to memory cannot fail");
    let bytes = w.into_inner().expect("writing CSV to memory cannot fail");
    String::from_utf8(bytes).expect("CSV of UTF-8 cells is UTF-8")
}

/// A cell made safe to open in a spreadsheet (OWASP's CSV injection advice).
fn defused(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.parse::<Decimal>().is_err() {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The operations report: a station's charges on a day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operations {
    pub station_id: StationId,
    pub day: NaiveDate,
    pub charges: u32,
    pub seconds: u64,
    pub kwh: Decimal,
    pub revenue: Decimal,
}

impl From<&StationDay> for Operations {
    fn from(d: &StationDay) -> Self {
        Operations {
            station_id: d.station_id,
            day: d.day,
            charges: d.charges,
            seconds: d.seconds,
            kwh: d.kwh,
            revenue: d.revenue,
        }
    }
}

impl Row for Operations {
    const HEADER: &'static [&'static str] = &["station_id", "day", "charges", "seconds", "kwh", "revenue"];
    fn cells(&self) -> Vec<String> {
        let s = self;
        vec![
            s.station_id.to_string(),
            s.day.to_string(),
            s.charges.to_string(),
            s.seconds.to_string(),
            s.kwh.to_string(),
            s.revenue.to_string(),
        ]
    }
}

/// The energy report: a station's energy in one period of a day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Energy {
    pub station_id: StationId,
    pub day: NaiveDate,
    #[serde(flatten)]
    pub sum: PeriodSum,
}

impl Energy {
    /// A row per station, day and period with energy in it.
    pub fn rows(days: &[StationDay]) -> Vec<Energy> {
        days.iter()
            .flat_map(|d| {
                let (station_id, day) = (d.station_id, d.day);
                d.periods.iter().filter(|p| !p.kwh.is_zero()).map(move |&sum| Energy { station_id, day, sum })
            })
            .collect()
    }
}

impl Row for Energy {
    const HEADER: &'static [&'static str] = &["station_id", "day", "period", "kwh", "amount"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.station_id.to_string(),
            self.day.to_string(),
            self.sum.period.as_str().to_owned(),
            self.sum.kwh.to_string(),
            self.sum.amount.to_string(),
        ]
    }
}

impl Row for FaultCount {
    const HEADER: &'static [&'static str] = &["station_id", "pile_id", "kind", "alarms"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.station_id.to_string(),
            self.pile_id.as_ref().map(|p| p.to_string()).unwrap_or_default(),
            self.kind.clone(),
            self.alarms.to_string(),
        ]
    }
}

impl Row for Driver {
    const HEADER: &'static [&'static str] =
        &["id", "phone", "class", "status", "created_at", "last_active_at"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.phone.clone(),
            self.class.clone().unwrap_or_default(),
            self.status.as_str().to_owned(),
            self.created_at.to_rfc3339(),
            self.last_active_at.to_rfc3339(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{Pricing, Terms};
    use crate::tariff::TouPrices;
    use rust_decimal_macros::dec;
    use vocab::SessionId;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// A charge priced by a tariff with a peak 08:00-12:00 and a valley
    /// 00:00-08:00 local (+08:00), metering `kwh_per_hour` each hour from `start`.
    fn charge(station: StationId, start: &str, hours: i64, kwh_per_hour: Decimal) -> (SessionRecord, Bill) {
        let mut tou = TouPrices::flat(dec!(1), dec!(0.5));
        tou.slots[..16].fill(Period::Valley);
        tou.slots[16..24].fill(Period::Peak);
        tou.prices[Period::Valley.index()].energy = dec!(0.3);
        tou.prices[Period::Peak.index()].energy = dec!(1.2);
        let terms = Terms {
            pricing: Pricing::TimeOfUse { tariff_id: 1, tou },
            plan_id: None,
            prepaid: None,
            service_fee: dec!(0.10),
            minimum: Decimal::ZERO,
            utc_offset_minutes: 480,
            discount: None,
            payer: None,
            merchant_id: None,
        };
        let start = at(start);
        let mut s = SessionRecord::new(
            SessionId(start.to_rfc3339()),
            "p".into(),
            vocab::PortNo(1),
            station,
            terms,
            start,
        );
        s.start_result(true, start, None).unwrap();
        for h in 1..hours {
            s.reading(start + Duration::hours(h), kwh_per_hour * Decimal::from(h), dec!(7000), None).unwrap();
        }
        let end = start + Duration::hours(hours);
        let reason = crate::session::StopReason { code: 0x40, text: "app".into() };
        let bill = s.finish(end, kwh_per_hour * Decimal::from(hours), None, reason).unwrap();
        (s, bill)
    }

    #[test]
    fn a_charge_keeps_its_bill_per_period() {
        // 07:00-09:00 local: one hour of valley, one of peak.
        let (s, bill) = charge(1, "2026-03-01T23:00:00Z", 2, dec!(10));
        let c = Charge::of(&s, &bill);
        assert_eq!((c.kwh, c.seconds, c.revenue), (bill.kwh, 7200, bill.total));
        let [sharp, peak, flat, valley] = c.periods;
        assert_eq!((sharp.kwh, flat.kwh), (Decimal::ZERO, Decimal::ZERO));
        assert_eq!((valley.kwh, valley.amount), (dec!(10), dec!(10) * (dec!(0.3) + dec!(0.5))));
        assert_eq!((peak.kwh, peak.amount), (dec!(10), dec!(10) * (dec!(1.2) + dec!(0.5))));
        // The period amounts and the service fee make up the total.
        assert_eq!(valley.amount + peak.amount + dec!(0.10), bill.total);
    }

    #[test]
    fn charges_are_summed_per_station_and_local_day() {
        let charges = [
            // 2 March 07:00 local, and 2 March 23:30 local (15:30Z on the 2nd).
            charge(1, "2026-03-01T23:00:00Z", 2, dec!(10)),
            charge(1, "2026-03-02T13:30:00Z", 2, dec!(5)),
            // Ends 3 March 00:30 local: the next day.
            charge(1, "2026-03-02T14:30:00Z", 2, dec!(1)),
            charge(2, "2026-03-02T01:00:00Z", 1, dec!(7)),
            // 1 March local: before the report.
            charge(2, "2026-03-01T01:00:00Z", 1, dec!(7)),
        ]
        .map(|(s, b)| (Charge::of(&s, &b), b));
        let mut days = Days::new(day("2026-03-02"), day("2026-03-04"));
        for (c, _) in &charges {
            days.add(480, c);
        }
        let days = days.into_vec();
        let keys: Vec<_> = days.iter().map(|d| (d.station_id, d.day, d.charges)).collect();
        assert_eq!(keys, [(1, day("2026-03-02"), 2), (1, day("2026-03-03"), 1), (2, day("2026-03-02"), 1)]);
        let first = &days[0];
        let (a, b) = (&charges[0].1, &charges[1].1);
        assert_eq!(first.kwh, a.kwh + b.kwh);
        assert_eq!(first.revenue, a.total + b.total);
        assert_eq!(first.seconds, u64::from(a.seconds + b.seconds));
        let period_kwh: Decimal = first.periods.iter().map(|p| p.kwh).sum();
        assert_eq!(period_kwh, first.kwh, "time-of-use energy is all in some period");

        let energy = Energy::rows(&days);
        assert!(energy.iter().all(|e| !e.sum.kwh.is_zero()));
        let station_1_day_1: Decimal =
            energy.iter().filter(|e| e.station_id == 1 && e.day == first.day).map(|e| e.sum.kwh).sum();
        assert_eq!(station_1_day_1, first.kwh);
    }

    #[test]
    fn a_report_window_is_the_local_days_in_utc() {
        let (start, end) = window(day("2026-03-02"), day("2026-03-04"), 480);
        assert_eq!((start, end), (at("2026-03-01T16:00:00Z"), at("2026-03-03T16:00:00Z")));
        assert_eq!(local_day(start, 480), day("2026-03-02"));
        assert_eq!(local_day(end - Duration::microseconds(1), 480), day("2026-03-03"));
        assert_eq!(local_day(at("2026-03-02T02:00:00Z"), -300), day("2026-03-01"));
    }

    #[test]
    fn faults_are_counted_by_station_pile_and_kind() {
        let p = |s: &str| Some(PileId::from(s));
        let counts = count_faults([
            (2, p("b"), "smoke".to_owned()),
            (1, p("a"), "over_voltage".to_owned()),
            (2, p("b"), "smoke".to_owned()),
            (2, None, "over_limit".to_owned()),
            (1, p("a"), "offline".to_owned()),
        ]);
        let rows: Vec<_> =
            counts.iter().map(|c| (c.station_id, c.pile_id.clone(), c.kind.as_str(), c.alarms)).collect();
        assert_eq!(
            rows,
            [
                (1, p("a"), "offline", 1),
                (1, p("a"), "over_voltage", 1),
                (2, None, "over_limit", 1),
                (2, p("b"), "smoke", 2)
            ]
        );
    }

    struct Text(&'static str, &'static str);

    impl Row for Text {
        const HEADER: &'static [&'static str] = &["a", "b"];
        fn cells(&self) -> Vec<String> {
            vec![self.0.to_owned(), self.1.to_owned()]
        }
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let rows = [Text("plain", "1.50"), Text("a, b", "say \"hi\""), Text("two\nlines", "")];
        assert_eq!(csv(&rows), "a,b\r\nplain,1.50\r\n\"a, b\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",\r\n");
        assert_eq!(csv::<Text>(&[]), "a,b\r\n");
    }

    #[test]
    fn csv_defuses_cells_a_spreadsheet_would_run() {
        let rows = [Text("=HYPERLINK(\"x\")", "@SUM(A1)"), Text("+1+1", "-2-2"), Text("\tx", "-1.50")];
        let out = csv(&rows);
        let want = "a,b\r\n\"'=HYPERLINK(\"\"x\"\")\",'@SUM(A1)\r\n'+1+1,'-2-2\r\n'\tx,-1.50\r\n";
        assert_eq!(out, want);
    }

    #[test]
    fn report_rows_have_a_cell_per_column() {
        let (s, bill) = charge(1, "2026-03-01T23:00:00Z", 2, dec!(10));
        let mut days = Days::new(day("2026-03-01"), day("2026-03-03"));
        days.add(480, &Charge::of(&s, &bill));
        let days = days.into_vec();
        let ops: Vec<Operations> = days.iter().map(Operations::from).collect();
        assert_eq!(csv(&ops).lines().nth(1), Some(&*format!("1,2026-03-02,1,7200,20,{}", bill.total)));
        let energy = Energy::rows(&days);
        assert_eq!(energy.len(), 2);
        assert!(csv(&energy).contains("\r\n1,2026-03-02,valley,10,8.0\r\n"), "{}", csv(&energy));
        let faults = count_faults([(1, None, "over_limit".to_owned())]);
        assert_eq!(csv(&faults), "station_id,pile_id,kind,alarms\r\n1,,over_limit,1\r\n");
    }
}
