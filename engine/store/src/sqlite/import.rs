//! Writing records another store exported (`store::export`), keeping their ids.
//!
//! Every row is an upsert on its key, so importing a record again leaves
//! the same row; readings and diagnostics replace the session's or pile's
//! set. Ledger entries go through `post`, which books a key once and keeps
//! the balances. AUTOINCREMENT tables move their sequence past an explicit
//! id by themselves, so ids the store hands out later are above the
//! imported ones.

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{params, Connection};

use super::codec::{bind_bill, bind_session, micros, text, to_json, BILL_COLUMNS, SESSION_COLUMNS};
use super::SqliteStore;
use crate::export::Record;
use crate::{Import, Result};

/// `INSERT ... ON CONFLICT (key) DO UPDATE` every other column, with
/// parameters ?1.. in the order of `columns`.
fn upsert(table: &str, columns: &str, key: &str) -> String {
    let cols: Vec<&str> = columns.split(',').map(str::trim).collect();
    let params: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
    let keys: Vec<&str> = key.split(',').map(str::trim).collect();
    let set: Vec<String> =
        cols.iter().filter(|c| !keys.contains(c)).map(|c| format!("{c} = excluded.{c}")).collect();
    let action = if set.is_empty() { "NOTHING".to_owned() } else { format!("UPDATE SET {}", set.join(", ")) };
    format!("INSERT INTO {table} ({columns}) VALUES ({}) ON CONFLICT ({key}) DO {action}", params.join(", "))
}

pub(super) fn import(c: &Connection, records: &[Record]) -> Result<()> {
    for record in records {
        one(c, record)?;
    }
    Ok(())
}

fn one(c: &Connection, record: &Record) -> Result<()> {
    // Tariffs, plans and rules don't carry their creation time: the import's stands in.
    let now = micros(Utc::now());
    let run = |sql: String, values: &[&dyn rusqlite::ToSql]| -> Result<()> {
        c.prepare_cached(&sql)?.execute(values)?;
        Ok(())
    };
    match record {
        Record::Operator(o) => run(
            upsert("operators", "id, name, status, created_at", "id"),
            params![o.id, o.name, o.status.as_str(), micros(o.created_at)],
        ),
        Record::Tariff(t) => run(
            upsert("tariffs", "id, name, tou, created_at, operator_id", "id"),
            params![t.id, t.name, to_json(&t.tou)?, now, t.operator_id],
        ),
        Record::Plan(p) => run(
            upsert("plans", "id, name, pricing, created_at, operator_id", "id"),
            params![p.id, p.name, to_json(&p.pricing)?, now, p.operator_id],
        ),
        Record::Merchant(m) => run(
            upsert("merchants", "id, name, commission_percent, created_at, operator_id", "id"),
            params![m.id, m.name, m.commission_percent.to_string(), micros(m.created_at), m.operator_id],
        ),
        Record::OutOfService(item, since) => run(
            upsert("out_of_service", "kind, key, since", "kind, key"),
            params![item.kind.as_str(), item.key, micros(*since)],
        ),
        Record::Station(s) => run(
            upsert(
                "stations",
                "id, name, tariff_id, utc_offset_minutes, service_fee, minimum_charge, created_at, power, \
                 merchant_id, details, operator_id",
                "id",
            ),
            params![
                s.id,
                s.name,
                s.tariff_id,
                s.utc_offset_minutes,
                s.service_fee.to_string(),
                s.minimum_charge.to_string(),
                micros(s.created_at),
                s.power.as_ref().map(to_json).transpose()?,
                s.merchant_id,
                s.details.as_ref().map(to_json).transpose()?,
                s.operator_id,
            ],
        ),
        Record::Pile(p) => run(
            upsert("piles", "id, station_id, protocol, ports, created_at", "id"),
            params![p.id.as_str(), p.station_id, p.protocol.as_str(), p.ports, micros(p.created_at)],
        ),
        Record::Driver(d) => run(
            upsert("drivers", "id, phone, password_hash, class, status, created_at, last_active_at", "id"),
            params![
                d.id,
                d.phone,
                d.password_hash,
                d.class,
                d.status.as_str(),
                micros(d.created_at),
                micros(d.last_active_at)
            ],
        ),
        Record::Session(s, bill) => {
            bind_session(&mut c.prepare_cached(&upsert("sessions", SESSION_COLUMNS, "id"))?, s)?;
            if let Some(payer) = &s.terms.payer {
                run(
                    upsert("driver_sessions", "driver_id, created_at, session_id", "driver_id, created_at, session_id"),
                    params![payer.driver, micros(s.created_at), s.id.as_str()],
                )?;
            }
            let Some(b) = bill else { return Ok(()) };
            let at = s.ended_at.unwrap_or(s.created_at);
            bind_bill(&mut c.prepare_cached(&upsert("bills", BILL_COLUMNS, "session_id"))?, &s.id, b, at)?;
            Ok(())
        }
        Record::Samples(session, samples) => {
            c.prepare_cached("DELETE FROM samples WHERE session_id = ?1")?.execute([session.as_str()])?;
            let sql = "INSERT INTO samples (session_id, at, seq, kwh, voltage, current, power, soc)
                       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
            for (seq, s) in samples.iter().enumerate() {
                run(
                    sql.to_owned(),
                    params![
                        session.as_str(),
                        micros(s.at),
                        seq as i64,
                        s.kwh.to_string(),
                        s.voltage.to_string(),
                        s.current.to_string(),
                        s.power.to_string(),
                        s.soc
                    ],
                )?;
            }
            Ok(())
        }
        Record::BillRevision { revision, bill, replaced_at } => run(
            upsert("bill_revisions", "session_id, revision, bill, replaced_at", "session_id, revision"),
            params![bill.session_id.as_str(), revision, to_json(bill)?, micros(*replaced_at)],
        ),
        Record::OfflineCards(pile, cards) => super::resources::set_offline_cards(c, pile, cards, true),
        Record::OcppPassword(pile, hash) => super::credentials::set_ocpp_password(c, pile, Some(hash)),
        Record::Diagnostics(pile, ds) => {
            c.prepare_cached("DELETE FROM diagnostics WHERE pile_id = ?1")?.execute([pile.as_str()])?;
            for d in ds {
                run(
                    "INSERT INTO diagnostics (pile_id, port, session_id, at, kind, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                        .to_owned(),
                    params![
                        d.pile_id.as_str(),
                        d.port,
                        d.session_id.as_ref().map(|s| s.as_str()),
                        micros(d.at),
                        d.kind,
                        d.data
                    ],
                )?;
            }
            Ok(())
        }
        Record::Alarm(a) => run(
            upsert(
                "alarms",
                "id, station_id, pile_id, port, kind, severity, message, raised_at, acknowledged_at, cleared_at",
                "id",
            ),
            params![
                a.id,
                a.alarm.station_id,
                a.alarm.pile_id.as_ref().map(|p| p.as_str()),
                a.alarm.port.map(|p| p.0),
                a.alarm.kind,
                a.alarm.severity.as_str(),
                a.alarm.message,
                micros(a.alarm.raised_at),
                a.acknowledged_at.map(micros),
                a.cleared_at.map(micros)
            ],
        ),
        Record::Response(key, r) => run(
            upsert("idempotency", "key, fingerprint, status, body, created_at", "key"),
            params![key, r.fingerprint, r.status, r.body, micros(r.created_at)],
        ),
        Record::Card(card) => run(
            upsert("cards", "number, driver_id, kind, status, created_at", "number"),
            params![card.number, card.driver_id, text(&card.kind)?, card.status.as_str(), micros(card.created_at)],
        ),
        Record::Rule(r) => {
            run(upsert("rules", "id, rule, created_at", "id"), params![r.id, to_json(&r.rule)?, now])
        }
        Record::Order(o) => run(
            upsert("orders", "id, driver_id, amount, provider, status, provider_txn, created_at, paid_at", "id"),
            params![
                o.id,
                o.driver_id,
                o.amount.to_string(),
                o.provider,
                text(&o.status)?,
                o.provider_txn,
                micros(o.created_at),
                o.paid_at.map(micros)
            ],
        ),
        Record::Entry(e) => super::money::post(c, e).map(drop),
        Record::Statement(s) => run(
            upsert("statements", "merchant_id, day, statement", "merchant_id, day"),
            params![s.merchant_id, s.day.to_string(), to_json(s)?],
        ),
        Record::User(u) => run(
            upsert("users", "id, username, password_hash, role, merchant_id, created_at, operator_id", "id"),
            params![
                u.id,
                u.user.username,
                u.user.password_hash,
                u.user.role.as_str(),
                u.user.merchant_id,
                micros(u.created_at),
                u.user.operator_id
            ],
        ),
        Record::Token(hash, t) => run(
            upsert("tokens", "hash, token, expires_at", "hash"),
            params![hash, to_json(t)?, micros(t.expires_at)],
        ),
    }
}

#[async_trait]
impl Import for SqliteStore {
    async fn import(&self, records: Vec<Record>) -> Result<()> {
        self.writer.submit(move |c| import(c, &records)).await
    }
}
