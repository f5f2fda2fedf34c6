//! Money every backend must keep exactly: drivers, cards, orders, the
//! ledger's once-only posting and balance rule, holds and captures made in
//! the same write as the session and its bill, and issued statements.

use domain::accounts::{Order, OrderStatus};
use domain::ledger::{balance_of, Account, Entry, EntryKind};
use domain::payer::Payer;
use domain::settlement::{self, Statement};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use store::{EntryFilter, StoreError};

use super::{charging, finished, site, t, unique, Db, MISSING};

pub async fn run(db: &Db) {
    an_order_is_credited_once(db).await;
    entries_post_once_and_never_overdraw(db).await;
    a_wallet_charge_holds_at_start_and_captures_with_its_bill(db).await;
    a_statement_is_issued_once_with_its_settlement(db).await;
}

pub(super) async fn driver(db: &Db) -> i64 {
    db.create_driver(&unique("phone"), None, None).await.unwrap().id
}

async fn funded(db: &Db, amount: Decimal) -> i64 {
    let d = driver(db).await;
    let order = new_order(d, amount);
    db.create_order(&order).await.unwrap();
    assert!(db.pay_order(&order.id, &unique("txn"), t(5)).await.unwrap());
    d
}

fn new_order(driver: i64, amount: Decimal) -> Order {
    Order {
        id: unique("order"),
        driver_id: driver,
        amount,
        provider: "sandbox".into(),
        status: OrderStatus::Pending,
        provider_txn: None,
        created_at: t(3),
        paid_at: None,
    }
}

async fn an_order_is_credited_once(db: &Db) {
    let d = driver(db).await;
    let order = new_order(d, dec!(50.00));
    db.create_order(&order).await.unwrap();
    assert!(matches!(db.create_order(&order).await, Err(StoreError::Conflict(_))));
    assert_eq!(db.order(&order.id).await.unwrap(), Some(order.clone()));
    let txn = unique("txn");
    assert!(db.pay_order(&order.id, &txn, t(1_000)).await.unwrap());
    assert!(!db.pay_order(&order.id, &txn, t(2_000)).await.unwrap(), "a replay credits nothing");
    assert_eq!(db.balance(&Account::Wallet(d)).await.unwrap(), dec!(50.00));
    let paid = db.order(&order.id).await.unwrap().unwrap();
    assert_eq!(
        (paid.status, paid.provider_txn.as_deref(), paid.paid_at),
        (OrderStatus::Paid, Some(&*txn), Some(t(1_000)))
    );
    let window = db.paid_orders(t(1_000), t(1_001)).await.unwrap();
    assert!(window.iter().any(|o| o.id == order.id));
    assert!(!db.paid_orders(t(1_001), t(3_000)).await.unwrap().iter().any(|o| o.id == order.id));
    assert!(matches!(db.pay_order(&unique("order"), "x", t(1)).await, Err(StoreError::NotFound(_))));
}

async fn entries_post_once_and_never_overdraw(db: &Db) {
    let d = funded(db, dec!(10)).await;
    let refund = Entry::refund(&unique("refund"), d, "sandbox", dec!(4.50), t(10));
    assert!(db.post_entry(&refund).await.unwrap());
    assert!(!db.post_entry(&refund).await.unwrap(), "a key books once");
    let too_much = Entry::refund(&unique("refund"), d, "sandbox", dec!(5.51), t(11));
    let refused = db.post_entry(&too_much).await;
    assert!(matches!(refused, Err(StoreError::Refused(_))), "{refused:?}");
    let wallet = Account::Wallet(d);
    assert_eq!(db.balance(&wallet).await.unwrap(), dec!(5.50));
    let mine =
        db.entries(&EntryFilter { account: Some(wallet.clone()), ..Default::default() }).await.unwrap();
    assert_eq!(mine.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![EntryKind::TopUp, EntryKind::Refund]);
    assert_eq!(balance_of(&wallet, &mine), dec!(5.50), "the balance is the sum of the entries");
    let by_ref = EntryFilter { reference: Some(refund.reference.clone()), ..Default::default() };
    assert_eq!(db.entries(&by_ref).await.unwrap(), vec![refund.clone()]);
    let later =
        EntryFilter { account: Some(wallet), from: Some(t(6)), until: Some(t(11)), ..Default::default() };
    assert_eq!(db.entries(&later).await.unwrap(), vec![refund]);
}

async fn a_wallet_charge_holds_at_start_and_captures_with_its_bill(db: &Db) {
    let site = site(db).await;
    let d = funded(db, dec!(100)).await;
    let wallet = Account::Wallet(d);

    // A hold larger than the wallet refuses the session itself.
    let mut greedy = charging(&site);
    greedy.terms.payer = Some(Payer { driver: d, held: dec!(100.01) });
    assert!(matches!(db.insert_session(&greedy).await, Err(StoreError::Refused(_))));
    assert_eq!(db.session(&greedy.id).await.unwrap(), None, "no session without its hold");

    let mut s = charging(&site);
    s.terms.payer = Some(Payer { driver: d, held: dec!(80) });
    s.terms.merchant_id = None;
    db.insert_session(&s).await.unwrap();
    assert_eq!(db.balance(&wallet).await.unwrap(), dec!(20));
    assert_eq!(db.balance(&Account::Held(d)).await.unwrap(), dec!(80));

    // A charge the pile refused gives its hold back, once.
    let mut refused = charging(&site);
    refused.terms.payer = Some(Payer { driver: d, held: dec!(10) });
    db.insert_session(&refused).await.unwrap();
    assert_eq!(db.balance(&wallet).await.unwrap(), dec!(10));
    refused.state = domain::session::SessionState::Failed;
    db.update_session(&refused).await.unwrap();
    db.update_session(&refused).await.unwrap();
    assert_eq!(db.balance(&wallet).await.unwrap(), dec!(20));

    let (done, bill) = finished(s.clone(), dec!(40));
    assert!(db.finish_session(&done, &bill).await.unwrap());
    assert!(!db.finish_session(&done, &bill).await.unwrap());
    assert_eq!(
        db.balance(&wallet).await.unwrap(),
        dec!(100) - bill.total,
        "captured once, the rest released"
    );
    assert_eq!(db.balance(&Account::Held(d)).await.unwrap(), dec!(0));
    let booked =
        db.entries(&EntryFilter { reference: Some(s.id.to_string()), ..Default::default() }).await.unwrap();
    assert_eq!(booked.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![EntryKind::Hold, EntryKind::Capture]);
    assert_eq!(booked[1].at, done.ended_at.unwrap(), "booked when the charge ended");

    // The driver's history: both charges (the refused one too), not the
    // one whose hold was refused.
    let mine = db.driver_sessions(d, 10).await.unwrap();
    let mut ids: Vec<_> = mine.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    let mut want = vec![s.id.clone(), refused.id.clone()];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(db.driver_sessions(d, 1).await.unwrap().len(), 1);
    assert_eq!(db.driver_sessions(MISSING, 10).await.unwrap(), vec![]);

    // A correction reverses the capture and captures the new total; the
    // replaced bill is kept.
    let fixed = bill.corrected(bill.total - dec!(5), "meter fault");
    assert_eq!(db.correct_bill(&fixed, t(20_000_000_000)).await.unwrap(), 1);
    assert_eq!(db.bill(&s.id).await.unwrap(), Some(fixed.clone()));
    assert_eq!(db.bill_history(&s.id).await.unwrap(), vec![bill.clone()]);
    assert_eq!(db.balance(&wallet).await.unwrap(), dec!(100) - fixed.total);
    let again = fixed.corrected(fixed.total + dec!(1), "second look");
    assert_eq!(db.correct_bill(&again, t(20_000_000_001)).await.unwrap(), 2);
    assert_eq!(db.balance(&wallet).await.unwrap(), dec!(100) - again.total);
    assert_eq!(db.bill_history(&s.id).await.unwrap(), vec![bill.clone(), fixed]);
    let kinds =
        db.entries(&EntryFilter { reference: Some(s.id.to_string()), ..Default::default() }).await.unwrap();
    let kinds: Vec<_> = kinds.iter().map(|e| e.kind).collect();
    use EntryKind::*;
    assert_eq!(kinds, vec![Hold, Capture, Reversal, Capture, Reversal, Capture]);
    let mut stray = again.clone();
    stray.session_id = vocab::SessionId(unique("session"));
    assert!(matches!(db.correct_bill(&stray, t(1)).await, Err(StoreError::NotFound(_))));
}

async fn a_statement_is_issued_once_with_its_settlement(db: &Db) {
    let merchant = db.create_merchant(1, &unique("merchant"), dec!(6)).await.unwrap();
    assert_eq!(db.merchant(merchant.id).await.unwrap(), Some(merchant.clone()));
    let all = db.merchants().await.unwrap();
    assert!(all.contains(&merchant) && all.windows(2).all(|w| w[0].id < w[1].id), "listed by id");
    let site = site(db).await;
    let d = funded(db, dec!(100)).await;
    let mut s = charging(&site);
    s.terms.payer = Some(Payer { driver: d, held: dec!(60) });
    s.terms.merchant_id = Some(merchant.id);
    db.insert_session(&s).await.unwrap();
    let (done, bill) = finished(s.clone(), dec!(40));
    db.finish_session(&done, &bill).await.unwrap();

    let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let (from, until) = settlement::day_bounds(day, 480);
    let revenue = Account::Revenue(Some(merchant.id));
    let filter = EntryFilter {
        account: Some(revenue.clone()),
        from: Some(from),
        until: Some(until),
        ..Default::default()
    };
    let entries = db.entries(&filter).await.unwrap();
    let statement: Statement =
        settlement::compute(&merchant, day, &entries, std::slice::from_ref(&bill), t(99));
    assert_eq!((statement.charges, statement.revenue, statement.paid), (1, bill.total, bill.total));
    assert!(db.issue_statement(&statement).await.unwrap());
    let mut again = statement.clone();
    again.payout += dec!(1);
    assert!(!db.issue_statement(&again).await.unwrap(), "an issued statement never changes");
    assert_eq!(db.statement(merchant.id, day).await.unwrap(), Some(statement.clone()));
    assert_eq!(db.balance(&revenue).await.unwrap(), dec!(0), "settled");
    assert_eq!(db.balance(&Account::Payouts(merchant.id)).await.unwrap(), statement.payout);
    assert_eq!(db.statement(merchant.id, day.succ_opt().unwrap()).await.unwrap(), None);
}
