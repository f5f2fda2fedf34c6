//! The CQL ledger's account-by-account posting, checked against the
//! domain ledger without a cluster.

use super::*;
use chrono::{DateTime, Utc};
use domain::ledger::Ledger;
use domain::payer::Payer;
use domain::pricing::Bill;
use rust_decimal_macros::dec;
use vocab::SessionId;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_323_200 + s, 0).unwrap()
}

fn bill(total: Decimal, discount: Decimal) -> Bill {
    Bill {
        session_id: SessionId("s-1".into()),
        tariff_id: None,
        plan_id: None,
        lines: Vec::new(),
        kwh: dec!(10),
        seconds: 600,
        energy_amount: total,
        service_amount: dec!(0),
        list_total: total + discount,
        discount,
        total,
        prepaid: None,
        refund: dec!(0),
        reconciliation: None,
    }
}

/// Posting account by account, lowered accounts first, with the rule
/// checked on each account's own balance, books exactly what the
/// in-memory ledger books, and refuses what it refuses.
fn post_by_account(balances: &mut BTreeMap<Account, Decimal>, e: &Entry) -> Result<()> {
    let moves = moves(e);
    let lowered = moves.iter().filter(|(_, m)| **m < Decimal::ZERO);
    let raised = moves.iter().filter(|(_, m)| **m >= Decimal::ZERO);
    let mut applied = Vec::new();
    for (account, moved) in lowered.chain(raised) {
        let balance = balances.get(account).copied().unwrap_or_default();
        match balance_after(e, &moves, account, balance) {
            Ok(after) => {
                assert_eq!(after, balance + moved);
                balances.insert(account.clone(), after);
                applied.push((account.clone(), *moved));
            }
            Err(err) => {
                for (account, moved) in applied {
                    *balances.get_mut(&account).unwrap() -= moved;
                }
                return Err(err);
            }
        }
    }
    Ok(())
}

#[test]
fn account_by_account_posting_agrees_with_the_ledger() {
    let payer = Payer { driver: 7, held: dec!(30) };
    let session = SessionId("s-1".into());
    let entries = vec![
        Entry::hold(&session, 7, dec!(30), t(0)), // refused: nothing paid in yet
        Entry::top_up("o-1", 7, "alipay", dec!(50), t(1)),
        Entry::hold(&session, 7, dec!(30), t(2)),
        Entry::hold(&SessionId("s-2".into()), 7, dec!(30), t(3)), // refused: 20 left
        Entry::capture(&payer, Some(3), &bill(dec!(42.50), dec!(7.50)), t(4)),
        Entry::settlement(3, "3:2026-03-01", dec!(50), dec!(7.50), dec!(4.25), t(5)),
        Entry::settlement(3, "3:2026-03-02", dec!(1), dec!(0), dec!(0.10), t(6)), // refused
        Entry::refund("r-1", 7, "alipay", dec!(7.50), t(7)),
        Entry::refund("r-2", 7, "alipay", dec!(0.01), t(8)), // refused: the wallet is empty
    ];
    let mut ledger = Ledger::default();
    let mut balances = BTreeMap::new();
    for e in &entries {
        let expected = ledger.post(e.clone()).map_err(StoreError::from);
        let got = post_by_account(&mut balances, e).map(|()| true);
        assert_eq!(got.is_ok(), expected.is_ok(), "{}: {got:?} vs {expected:?}", e.key);
        for (account, balance) in &balances {
            assert_eq!(*balance, ledger.balance(account), "{account} after {}", e.key);
        }
    }
    assert_eq!(balances[&Account::Wallet(7)], dec!(0));
    assert_eq!(balances[&Account::Payouts(3)], dec!(38.25));
}

#[test]
fn a_capture_may_overdraw_the_wallet_but_a_hold_may_not() {
    let e = Entry::capture(&Payer { driver: 7, held: dec!(10) }, None, &bill(dec!(12), dec!(0)), t(0));
    let moves = moves(&e);
    assert_eq!(moves[&Account::Wallet(7)], dec!(-2));
    assert_eq!(balance_after(&e, &moves, &Account::Wallet(7), dec!(0)).unwrap(), dec!(-2));
    assert_eq!(balance_after(&e, &moves, &Account::Held(7), dec!(10)).unwrap(), dec!(0));
    assert!(matches!(balance_after(&e, &moves, &Account::Held(7), dec!(9)), Err(StoreError::Refused(_))));
    let hold = Entry::hold(&SessionId("s".into()), 7, dec!(10), t(0));
    let moves = super::moves(&hold);
    let err = balance_after(&hold, &moves, &Account::Wallet(7), dec!(9.99)).unwrap_err();
    assert!(matches!(&err, StoreError::Refused(m) if m.contains("wallet:7")), "{err:?}");
}
