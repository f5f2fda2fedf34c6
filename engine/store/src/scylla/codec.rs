//! Domain values to CQL columns and back, following the conventions in
//! `schema`: money and energy as exact decimal text, timestamps as `bigint`
//! microseconds since the Unix epoch (CQL's `timestamp` keeps only
//! milliseconds, and a record must come back equal to the microsecond),
//! structured values read only whole (prices, terms, meter, bill lines) as
//! JSON text, small unsigned numbers as `int`.
//!
//! Decoding is strict, as in the SQLite backend: a value the domain cannot
//! hold is an error naming its column, never a default, because the store
//! is the record of money. Nothing here talks to the driver, so all of it is
//! unit-tested without a cluster.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Result, StoreError};
use domain::pricing::{Bill, Pricing};
use domain::session::{SessionRecord, SessionState, StopReason};
use vocab::{PileId, PortNo, SessionId};

const MICROS_PER_DAY: i64 = 86_400_000_000;
const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// How many partitions the `piles` listing is spread over. Part of the
/// schema: changing it needs a migration that rewrites the listing.
pub(super) const PILE_BUCKETS: i32 = 16;

fn bad(column: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("column {column}: {why}"))
}

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn time(column: &str, us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| bad(column, format!("timestamp {us} out of range")))
}

pub(super) fn opt_time(column: &str, us: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    us.map(|us| time(column, us)).transpose()
}

/// Exact text: `Decimal`'s own rendering keeps the scale ("1.23450").
pub(super) fn dec(d: Decimal) -> String {
    d.to_string()
}

pub(super) fn decimal(column: &str, text: &str) -> Result<Decimal> {
    // Exact: a value that does not fit is an error, not a rounded number.
    Decimal::from_str_exact(text).map_err(|e| bad(column, format!("decimal {text:?}: {e}")))
}

pub(super) fn opt_decimal(column: &str, text: Option<&str>) -> Result<Option<Decimal>> {
    text.map(|t| decimal(column, t)).transpose()
}

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encoding JSON: {e}")))
}

pub(super) fn json<T: DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| bad(column, format!("JSON: {e}")))
}

/// A text column holding one of an enum's names.
pub(super) fn name<T>(column: &str, text: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    parse(text).ok_or_else(|| bad(column, format!("unknown value {text:?}")))
}

/// An `int` column holding a `u8` (ports, SOC, stop codes).
pub(super) fn small(column: &str, v: i32) -> Result<u8> {
    u8::try_from(v).map_err(|_| bad(column, format!("{v} is not 0..=255")))
}

pub(super) fn opt_small(column: &str, v: Option<i32>) -> Result<Option<u8>> {
    v.map(|v| small(column, v)).transpose()
}

pub(super) fn unsigned(column: &str, v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| bad(column, format!("{v} is not 0..=4294967295")))
}

/// The UTC day a reading falls in: the second half of the `samples`
/// partition key, so one partition holds at most a day of one session.
pub(super) fn day_bucket(us: i64) -> i32 {
    // Days since 1970 fit an i32 for every timestamp chrono can hold.
    us.div_euclid(MICROS_PER_DAY) as i32
}

/// The UTC hour a posting started in: the partition of `ledger_pending`.
pub(super) fn hour_bucket(us: i64) -> i32 {
    // Hours since 1970 fit an i32 until the year 246,000.
    us.div_euclid(MICROS_PER_HOUR).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// An enum stored under its serde (snake_case) name, as in SQLite.
pub(super) fn snake<T: Serialize>(value: &T) -> Result<String> {
    Ok(to_json(value)?.trim_matches('"').to_owned())
}

pub(super) fn from_snake<T: DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|e| bad(column, format!("unknown value {text:?}: {e}")))
}

/// The partition of the `piles` listing a pile id lives in: FNV-1a, fixed
/// forever (unlike `std`'s hasher, which may change between Rust releases).
pub(super) fn pile_bucket(id: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h % PILE_BUCKETS as u32) as i32
}

/// Session columns in the order of `SessionRow`, for SELECT and INSERT.
pub(super) const SESSION_COLUMNS: &str = "id, pile_id, port, station_id, tariff_id, plan_id, state, \
     created_at, started_at, ended_at, stop_code, stop_text, terms, meter";

/// A `sessions` row as the driver returns it, in `SESSION_COLUMNS` order.
pub(super) type SessionRow = (
    String,         // id
    String,         // pile_id
    i32,            // port
    i64,            // station_id
    Option<i64>,    // tariff_id
    Option<i64>,    // plan_id
    String,         // state
    i64,            // created_at
    Option<i64>,    // started_at
    Option<i64>,    // ended_at
    Option<i32>,    // stop_code
    Option<String>, // stop_text
    String,         // terms
    String,         // meter
);

/// What the session upsert binds: the row, then its write timestamp.
pub(super) type SessionValues = (
    String,
    String,
    i32,
    i64,
    Option<i64>,
    Option<i64>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i32>,
    Option<String>,
    String,
    String,
    i64, // USING TIMESTAMP
);

/// The row that stores `s`, written at `ts`. `tariff_id` and `plan_id`
/// repeat what the terms say, for reports, as in the SQLite schema.
pub(super) fn session_values(s: &SessionRecord, ts: i64) -> Result<SessionValues> {
    let tariff_id = match &s.terms.pricing {
        Pricing::TimeOfUse { tariff_id, .. } => Some(*tariff_id),
        _ => None,
    };
    let stop = s.stop_reason.as_ref();
    Ok((
        s.id.0.clone(),
        s.pile_id.0.clone(),
        i32::from(s.port.0),
        s.station_id,
        tariff_id,
        s.terms.plan_id,
        s.state.as_str().to_owned(),
        micros(s.created_at),
        s.started_at.map(micros),
        s.ended_at.map(micros),
        stop.map(|r| i32::from(r.code)),
        stop.map(|r| r.text.clone()),
        to_json(&s.terms)?,
        to_json(&s.meter)?,
        ts,
    ))
}

pub(super) fn session(row: SessionRow) -> Result<SessionRecord> {
    let (
        id,
        pile_id,
        port,
        station_id,
        _tariff,
        _plan,
        state,
        created,
        started,
        ended,
        code,
        text,
        terms,
        meter,
    ) = row;
    let stop_reason = match code {
        Some(code) => Some(StopReason { code: small("stop_code", code)?, text: text.unwrap_or_default() }),
        None => None,
    };
    Ok(SessionRecord {
        id: SessionId(id),
        pile_id: PileId(pile_id),
        port: PortNo(small("port", port)?),
        station_id,
        state: name("state", &state, SessionState::parse)?,
        created_at: time("created_at", created)?,
        started_at: opt_time("started_at", started)?,
        ended_at: opt_time("ended_at", ended)?,
        stop_reason,
        terms: json("terms", &terms)?,
        meter: json("meter", &meter)?,
    })
}

/// Bill columns in the order of `BillRow`, after `session_id`.
pub(super) const BILL_COLUMNS: &str = "tariff_id, plan_id, lines, kwh, seconds, energy_amount, \
     service_amount, total, prepaid, refund, reconciliation, list_total, discount";

pub(super) type BillRow = (
    Option<i64>,    // tariff_id
    Option<i64>,    // plan_id
    String,         // lines
    String,         // kwh
    i64,            // seconds
    String,         // energy_amount
    String,         // service_amount
    String,         // total
    Option<String>, // prepaid
    String,         // refund
    Option<String>, // reconciliation
    Option<String>, // list_total (null before schema version 2)
    Option<String>, // discount (null before schema version 2)
);

/// What claiming a bill binds: `session_id`, `BILL_COLUMNS`, `created_at`
/// and `final_session`.
pub(super) type BillValues = (
    String,
    Option<i64>,
    Option<i64>,
    String,
    String,
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>, // reconciliation
    Option<String>, // list_total
    Option<String>, // discount
    i64,            // created_at
    String,         // final_session
);

/// The bill row for `b`, made with the finished record `session` at `at`.
pub(super) fn bill_values(b: &Bill, session: &SessionRecord, at: DateTime<Utc>) -> Result<BillValues> {
    Ok((
        b.session_id.0.clone(),
        b.tariff_id,
        b.plan_id,
        to_json(&b.lines)?,
        dec(b.kwh),
        i64::from(b.seconds),
        dec(b.energy_amount),
        dec(b.service_amount),
        dec(b.total),
        b.prepaid.map(dec),
        dec(b.refund),
        b.reconciliation.as_ref().map(to_json).transpose()?,
        Some(dec(b.list_total)),
        Some(dec(b.discount)),
        micros(at),
        to_json(session)?,
    ))
}

pub(super) fn bill(session_id: &SessionId, row: BillRow) -> Result<Bill> {
    let (
        tariff_id,
        plan_id,
        lines,
        kwh,
        seconds,
        energy,
        service,
        total,
        prepaid,
        refund,
        reconciliation,
        list_total,
        discount,
    ) = row;
    let total = decimal("total", &total)?;
    Ok(Bill {
        session_id: session_id.clone(),
        tariff_id,
        plan_id,
        lines: json("lines", &lines)?,
        kwh: decimal("kwh", &kwh)?,
        seconds: unsigned("seconds", seconds)?,
        energy_amount: decimal("energy_amount", &energy)?,
        service_amount: decimal("service_amount", &service)?,
        // Bills from before discounts: the total was the list price.
        list_total: opt_decimal("list_total", list_total.as_deref())?.unwrap_or(total),
        discount: opt_decimal("discount", discount.as_deref())?.unwrap_or_default(),
        total,
        prepaid: opt_decimal("prepaid", prepaid.as_deref())?,
        refund: decimal("refund", &refund)?,
        reconciliation: reconciliation.as_deref().map(|r| json("reconciliation", r)).transpose()?,
    })
}

pub(super) fn sorted<T>(mut all: Vec<T>, id: fn(&T) -> i64) -> Vec<T> {
    all.sort_by_key(id);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::pricing::{BillLine, Terms};
    use domain::tariff::{Period, TouPrices};
    use rust_decimal_macros::dec;

    fn t(us: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(1_772_323_200_000_000 + us).unwrap()
    }

    #[test]
    fn decimals_round_trip_exactly_with_their_scale() {
        for d in [dec!(1.23450), dec!(0.00001), dec!(-0.5), dec!(0), dec!(12600), dec!(33.3333333333333333)] {
            let text = dec(d);
            let back = decimal("x", &text).unwrap();
            assert_eq!(back, d);
            assert_eq!(back.to_string(), d.to_string(), "scale of {d}");
        }
        assert_eq!(dec(dec!(380.10)), "380.10");
        assert_eq!(opt_decimal("x", None).unwrap(), None);
        assert_eq!(opt_decimal("x", Some("3.00")).unwrap().unwrap().to_string(), "3.00");
    }

    #[test]
    fn malformed_decimals_are_errors_naming_the_column() {
        for text in ["", "1.2.3", "abc", "1e5", "99999999999999999999999999999999"] {
            let err = decimal("total", text).unwrap_err();
            assert!(matches!(&err, StoreError::Backend(m) if m.contains("total")), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn timestamps_round_trip_to_the_microsecond() {
        for us in [0, 1, 9_000_000_007, -1, -86_400_000_001] {
            let at = t(us);
            assert_eq!(time("at", micros(at)).unwrap(), at);
        }
        let before_1970 = DateTime::from_timestamp_micros(-1).unwrap();
        assert_eq!(time("at", micros(before_1970)).unwrap(), before_1970);
        assert!(time("at", i64::MAX).is_err());
        assert_eq!(opt_time("at", None).unwrap(), None);
    }

    #[test]
    fn day_buckets_split_at_utc_midnight() {
        let midnight = t(0).timestamp_micros(); // 2026-03-01T00:00:00Z
        assert_eq!(day_bucket(midnight), day_bucket(midnight + MICROS_PER_DAY - 1));
        assert_eq!(day_bucket(midnight) + 1, day_bucket(midnight + MICROS_PER_DAY));
        assert_eq!(day_bucket(midnight) - 1, day_bucket(midnight - 1));
        assert_eq!(day_bucket(0), 0);
        assert_eq!(day_bucket(-1), -1, "before 1970 rounds down, not toward zero");
    }

    #[test]
    fn pile_buckets_are_stable_and_in_range() {
        // Fixed values: the bucket is part of the stored data.
        assert_eq!(pile_bucket(""), (0x811c_9dc5_u32 % 16) as i32);
        assert_eq!(pile_bucket("55031412782305"), pile_bucket("55031412782305"));
        let ids = (0..1000).map(|i| format!("pile-{i}"));
        let mut seen = [0; PILE_BUCKETS as usize];
        for id in ids {
            let b = pile_bucket(&id);
            assert!((0..PILE_BUCKETS).contains(&b));
            seen[b as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 20), "spread over every bucket: {seen:?}");
    }

    #[test]
    fn json_round_trips_and_rejects_garbage() {
        let tou = TouPrices::flat(dec!(1.23450), dec!(0.80));
        let back: TouPrices = json("tou", &to_json(&tou).unwrap()).unwrap();
        assert_eq!(back, tou);
        assert_eq!(back.prices[0].energy.to_string(), "1.23450");
        let err = json::<TouPrices>("tou", "{").unwrap_err();
        assert!(matches!(&err, StoreError::Backend(m) if m.contains("tou")), "{err:?}");
    }

    #[test]
    fn small_numbers_are_range_checked() {
        assert_eq!(small("port", 10).unwrap(), 10);
        assert!(small("port", 256).is_err());
        assert!(small("port", -1).is_err());
        assert_eq!(opt_small("soc", None).unwrap(), None);
        assert_eq!(unsigned("seconds", 4_294_967_295).unwrap(), u32::MAX);
        assert!(unsigned("seconds", -1).is_err());
    }

    fn record() -> SessionRecord {
        let terms = Terms {
            pricing: Pricing::TimeOfUse { tariff_id: 7, tou: TouPrices::flat(dec!(1.2), dec!(0.8)) },
            plan_id: None,
            prepaid: Some(dec!(3.00)),
            service_fee: dec!(0.10),
            minimum: dec!(0.50),
            utc_offset_minutes: 480,
            discount: None,
            payer: None,
            merchant_id: None,
        };
        let mut s = SessionRecord::new(
            SessionId("s-1".into()),
            PileId::from("p-1"),
            PortNo(2),
            3,
            terms,
            t(1_000_001),
        );
        s.start_result(true, t(2_000_003), None).unwrap();
        s.reading(t(9_000_000_007), dec!(33.3333), dec!(7001.9), None).unwrap();
        s
    }

    /// What a SELECT returns for what was bound: the row without the
    /// write timestamp.
    fn stored(v: SessionValues) -> SessionRow {
        let (a, b, c, d, e, f, g, h, i, j, k, l, m, n, _ts) = v;
        (a, b, c, d, e, f, g, h, i, j, k, l, m, n)
    }

    #[test]
    fn session_rows_round_trip() {
        let mut s = record();
        let values = session_values(&s, 42).unwrap();
        assert_eq!(
            (values.4, values.14),
            (Some(7), 42),
            "tariff_id repeated for reports; then the timestamp"
        );
        assert_eq!(session(stored(values)).unwrap(), s);

        s.finish(t(10_800_000_009), dec!(40), None, StopReason { code: 0x40, text: "done".into() }).unwrap();
        let back = session(stored(session_values(&s, 43).unwrap())).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            back.meter.energy.kwh(Period::Flat).to_string(),
            s.meter.energy.kwh(Period::Flat).to_string()
        );
        assert_eq!(back.stop_reason.unwrap().code, 0x40);
    }

    #[test]
    fn a_session_row_with_an_unknown_state_is_an_error() {
        let mut row = stored(session_values(&record(), 1).unwrap());
        row.6 = "paused".into();
        let err = session(row).unwrap_err();
        assert!(matches!(&err, StoreError::Backend(m) if m.contains("state")), "{err:?}");
    }

    #[test]
    fn bill_rows_round_trip() {
        let b = Bill {
            session_id: SessionId("s-1".into()),
            tariff_id: None,
            plan_id: Some(4),
            lines: vec![BillLine::ServiceFee { amount: dec!(0.10) }],
            kwh: dec!(0.0700),
            seconds: 900,
            energy_amount: dec!(0),
            service_amount: dec!(0.10),
            list_total: dec!(1.20),
            discount: dec!(0),
            total: dec!(1.20),
            prepaid: Some(dec!(3.00)),
            refund: dec!(1.80),
            reconciliation: Some(domain::pricing::Reconciliation::of(dec!(1.20), dec!(1.1), dec!(0.05))),
        };
        let s = record();
        let (
            id,
            tariff,
            plan,
            lines,
            kwh,
            secs,
            energy,
            service,
            total,
            prepaid,
            refund,
            rec,
            list,
            off,
            at,
            fin,
        ) = bill_values(&b, &s, t(5)).unwrap();
        assert_eq!((id.as_str(), at), ("s-1", micros(t(5))));
        assert_eq!(json::<SessionRecord>("final_session", &fin).unwrap(), s);
        let row = (tariff, plan, lines, kwh, secs, energy, service, total, prepaid, refund, rec, list, off);
        let back = bill(&b.session_id, row.clone()).unwrap();
        assert_eq!(back, b);
        assert_eq!((back.kwh.to_string(), back.total.to_string()), ("0.0700".into(), "1.20".into()));

        let discounted = Bill { list_total: dec!(1.50), discount: dec!(0.30), ..b.clone() };
        let (.., list, off, _, _) = bill_values(&discounted, &s, t(5)).unwrap();
        assert_eq!((list.as_deref(), off.as_deref()), (Some("1.50"), Some("0.30")));
        let row = (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10, list, off);
        assert_eq!(bill(&b.session_id, row.clone()).unwrap(), discounted);

        // A bill stored before schema version 2 has neither column.
        let old = (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10, None, None);
        let back = bill(&b.session_id, old).unwrap();
        assert_eq!((back.list_total, back.discount), (dec!(1.20), dec!(0)));
    }

    #[test]
    fn enums_and_hours_are_stored_as_sqlite_names_them() {
        use domain::accounts::{CardKind, OrderStatus, Status};
        use domain::ledger::EntryKind;
        assert_eq!(snake(&OrderStatus::Pending).unwrap(), "pending");
        assert_eq!(snake(&CardKind::Physical).unwrap(), "physical");
        assert_eq!(snake(&EntryKind::TopUp).unwrap(), EntryKind::TopUp.as_str());
        assert_eq!(from_snake::<OrderStatus>("status", "paid").unwrap(), OrderStatus::Paid);
        assert_eq!(from_snake::<Status>("status", "frozen").unwrap(), Status::Frozen);
        let err = from_snake::<OrderStatus>("status", "lost").unwrap_err();
        assert!(matches!(&err, StoreError::Backend(m) if m.contains("status")), "{err:?}");
        let midnight = t(0).timestamp_micros();
        assert_eq!(hour_bucket(midnight) + 1, hour_bucket(midnight + MICROS_PER_HOUR));
        assert_eq!(hour_bucket(midnight), hour_bucket(midnight + MICROS_PER_HOUR - 1));
        assert_eq!(hour_bucket(-1), -1);
    }
}
