//! What a move between stores needs of every backend: importing an SQLite
//! store's export.

use std::collections::BTreeSet;
use store::prelude::*;

use domain::alarm::AlarmFilter;
use domain::tariff::TouPrices;
use rust_decimal_macros::dec;
use store::export::{self, Position, Record, Table};
use store::{EntryFilter, SqliteStore};

use super::Db;

/// Fills an SQLite store with the whole conformance suite, copies it into
/// `target` twice (the second copy must change nothing), and checks that
/// `target` returns every record as the source holds it, with the same
/// balances, and hands out ids above the imported ones.
pub async fn an_export_is_imported_whole_and_once(source: std::sync::Arc<SqliteStore>, target: Db) {
    super::run(source.clone()).await;
    let records = everything(&source).await;
    let tables: BTreeSet<&str> = records.iter().map(kind).collect();
    assert_eq!(tables.len(), 23, "the suite leaves a record of every kind: {tables:?}");

    let mut reported = Vec::new();
    let copied = export::copy(&source, target.as_ref(), Position::start(), 7, |p| reported.push(p.clone()))
        .await
        .unwrap();
    assert!(copied as usize >= records.len());
    let last = reported.last().unwrap();
    assert!(last.done && last.position.table == Table::OcppPasswords);
    holds(&source, &target, &records).await;

    // Again, and resumed from the middle of a table: nothing doubles.
    let middle = reported.iter().find(|p| p.position.table == Table::Entries && p.position.after.is_some());
    let from = middle.map(|p| p.position.clone()).unwrap_or_else(Position::start);
    export::copy(&source, target.as_ref(), Position::start(), 1000, |_| {}).await.unwrap();
    export::copy(&source, target.as_ref(), from, 3, |_| {}).await.unwrap();
    holds(&source, &target, &records).await;

    let max_tariff = records
        .iter()
        .filter_map(|r| match r {
            Record::Tariff(t) => Some(t.id),
            _ => None,
        })
        .max();
    let fresh = target.create_tariff(1, "after the move", &TouPrices::flat(dec!(1), dec!(1))).await.unwrap();
    assert!(Some(fresh.id) > max_tariff, "{} after {max_tariff:?}", fresh.id);
}

/// Every record of `store`, table by table.
pub async fn everything(store: &SqliteStore) -> Vec<Record> {
    let mut all = Vec::new();
    for table in Table::ALL {
        let mut after = None;
        loop {
            let page = store.export(table, after, 50).await.unwrap();
            all.extend(page.records);
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
    }
    all
}

fn kind(r: &Record) -> &'static str {
    match r {
        Record::Operator(_) => "operator",
        Record::OutOfService(..) => "out of service",
        Record::OfflineCards(..) => "offline cards",
        Record::OcppPassword(..) => "ocpp passwords",
        Record::Tariff(_) => "tariff",
        Record::Plan(_) => "plan",
        Record::Merchant(_) => "merchant",
        Record::Station(_) => "station",
        Record::Pile(_) => "pile",
        Record::Driver(_) => "driver",
        Record::Session(..) => "session",
        Record::Samples(..) => "samples",
        Record::BillRevision { .. } => "bill revision",
        Record::Diagnostics(..) => "diagnostics",
        Record::Alarm(_) => "alarm",
        Record::Response(..) => "response",
        Record::Card(_) => "card",
        Record::Rule(_) => "rule",
        Record::Order(_) => "order",
        Record::Entry(_) => "entry",
        Record::Statement(_) => "statement",
        Record::User(_) => "user",
        Record::Token(..) => "token",
    }
}

/// `target` returns each record as exported, and every account's balance
/// is the source's.
async fn holds(source: &SqliteStore, target: &Db, records: &[Record]) {
    let rules = target.rules().await.unwrap();
    let mut accounts = BTreeSet::new();
    for r in records {
        match r {
            Record::Operator(o) => assert_eq!(target.operator(o.id).await.unwrap().as_ref(), Some(o)),
            Record::OutOfService(item, since) => {
                assert_eq!(target.out_of_service(item).await.unwrap().as_ref(), Some(since))
            }
            Record::OfflineCards(pile, cards) => {
                assert_eq!(&target.offline_cards(pile).await.unwrap(), cards)
            }
            Record::OcppPassword(pile, hash) => {
                assert_eq!(target.ocpp_password(pile).await.unwrap().as_ref(), Some(hash))
            }
            Record::Tariff(t) => assert_eq!(target.tariff(t.id).await.unwrap().as_ref(), Some(t)),
            Record::Plan(p) => assert_eq!(target.plan(p.id).await.unwrap().as_ref(), Some(p)),
            Record::Merchant(m) => assert_eq!(target.merchant(m.id).await.unwrap().as_ref(), Some(m)),
            Record::Station(s) => assert_eq!(target.station(s.id).await.unwrap().as_ref(), Some(s)),
            Record::Pile(p) => assert_eq!(target.pile(&p.id).await.unwrap().as_ref(), Some(p)),
            Record::Driver(d) => {
                assert_eq!(target.driver(d.id).await.unwrap().as_ref(), Some(d));
                assert_eq!(target.driver_by_phone(&d.phone).await.unwrap().as_ref(), Some(d));
            }
            Record::Session(s, bill) => {
                assert_eq!(target.session(&s.id).await.unwrap().as_ref(), Some(s));
                assert_eq!(&target.bill(&s.id).await.unwrap(), bill, "bill of {}", s.id);
                if let Some(payer) = &s.terms.payer {
                    let listed = target.driver_sessions(payer.driver, 1000).await.unwrap();
                    assert!(listed.iter().any(|l| l.id == s.id), "{} under its driver", s.id);
                }
            }
            Record::Samples(id, samples) => assert_eq!(&target.samples(id).await.unwrap(), samples),
            Record::BillRevision { revision, bill, .. } => {
                let history = target.bill_history(&bill.session_id).await.unwrap();
                assert_eq!(history.get(*revision as usize), Some(bill));
            }
            Record::Diagnostics(pile, ds) => {
                let mut stored = target.diagnostics(pile, 100_000).await.unwrap();
                stored.reverse();
                assert_eq!(&stored, ds);
            }
            Record::Alarm(a) => {
                let filter = AlarmFilter { before: Some(a.id + 1), limit: 1, ..Default::default() };
                assert_eq!(target.alarms(&filter).await.unwrap().first(), Some(a));
            }
            Record::Response(key, resp) => {
                assert_eq!(target.idempotent_response(key).await.unwrap().as_ref(), Some(resp))
            }
            Record::Card(c) => assert_eq!(target.card(&c.number).await.unwrap().as_ref(), Some(c)),
            Record::Rule(rule) => assert!(rules.contains(rule), "rule {}", rule.id),
            Record::Order(o) => assert_eq!(target.order(&o.id).await.unwrap().as_ref(), Some(o)),
            Record::Entry(e) => {
                let filter = EntryFilter { reference: Some(e.reference.clone()), ..Default::default() };
                let listed = target.entries(&filter).await.unwrap();
                assert_eq!(listed.iter().filter(|l| l.key == e.key).collect::<Vec<_>>(), vec![e]);
                accounts.extend(e.lines.iter().map(|l| l.account.clone()));
            }
            Record::Statement(s) => {
                assert_eq!(target.statement(s.merchant_id, s.day).await.unwrap().as_ref(), Some(s))
            }
            Record::User(u) => {
                assert_eq!(target.user(u.id).await.unwrap().as_ref(), Some(u));
                assert_eq!(target.user_by_name(&u.user.username).await.unwrap().as_ref(), Some(u));
            }
            Record::Token(hash, t) => assert_eq!(target.token(hash).await.unwrap().as_ref(), Some(t)),
        }
    }
    for account in accounts {
        assert_eq!(
            target.balance(&account).await.unwrap(),
            source.balance(&account).await.unwrap(),
            "{account}"
        );
    }
}
