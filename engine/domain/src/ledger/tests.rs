//! `ledger`'s postings and balances, worked by hand.

use super::*;
use crate::pricing::BillLine;
use proptest::prelude::*;
use rust_decimal_macros::dec;

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_770_000_000 + s, 0).unwrap()
}

fn bill(session: &str, list: Decimal, discount: Decimal) -> Bill {
    Bill {
        session_id: SessionId(session.into()),
        tariff_id: None,
        plan_id: None,
        lines: vec![BillLine::ServiceFee { amount: list }],
        kwh: Decimal::ZERO,
        seconds: 0,
        energy_amount: Decimal::ZERO,
        service_amount: list,
        list_total: list,
        discount,
        total: list - discount,
        prepaid: None,
        refund: Decimal::ZERO,
        reconciliation: None,
    }
}

#[test]
fn refundable_is_what_each_provider_brought_in_less_what_went_back() {
    let refund = Entry::refund("r1", 7, "acme", dec!(20), at(3));
    let failed = Entry::refund("r2", 7, "acme", dec!(5), at(4));
    let entries = [
        Entry::top_up("o1", 7, "acme", dec!(50), at(0)),
        Entry::top_up("o2", 7, "sandbox", dec!(10), at(1)),
        Entry::top_up("o3", 8, "sandbox", dec!(99), at(2)),
        refund,
        failed.reversal(at(5)),
        failed,
    ];
    assert_eq!(refundable(7, &entries), [("acme".to_owned(), dec!(30)), ("sandbox".to_owned(), dec!(10))]);
    assert_eq!(refundable(8, &entries), [("sandbox".to_owned(), dec!(99))]);
    assert!(refundable(9, &entries).is_empty());
}

#[test]
fn accounts_print_and_parse_back() {
    for a in [
        Account::Wallet(7),
        Account::Held(7),
        Account::Provider("sandbox".into()),
        Account::Revenue(None),
        Account::Revenue(Some(3)),
        Account::Discounts(Some(3)),
        Account::Commission,
        Account::Payouts(3),
    ] {
        assert_eq!(a.to_string().parse::<Account>(), Ok(a.clone()));
    }
    assert!("wallet:x".parse::<Account>().is_err());
    assert!("bank:1".parse::<Account>().is_err());
}

#[test]
fn a_charge_holds_captures_and_releases_the_rest() {
    let mut l = Ledger::default();
    assert!(l.post(Entry::top_up("o1", 1, "sandbox", dec!(50), at(0))).unwrap());
    let s = SessionId("s1".into());
    l.post(Entry::hold(&s, 1, dec!(30), at(1))).unwrap();
    assert_eq!(l.balance(&Account::Wallet(1)), dec!(20));
    assert_eq!(l.balance(&Account::Held(1)), dec!(30));
    let payer = Payer { driver: 1, held: dec!(30) };
    l.post(Entry::capture(&payer, Some(4), &bill("s1", dec!(10), dec!(2)), at(2))).unwrap();
    assert_eq!(l.balance(&Account::Wallet(1)), dec!(42));
    assert_eq!(l.balance(&Account::Held(1)), dec!(0));
    assert_eq!(l.balance(&Account::Revenue(Some(4))), dec!(10));
    assert_eq!(l.balance(&Account::Discounts(Some(4))), dec!(2));
    assert_eq!(l.balance(&Account::Provider("sandbox".into())), dec!(50));
    // A repeated top-up notification books nothing.
    assert!(!l.post(Entry::top_up("o1", 1, "sandbox", dec!(50), at(3))).unwrap());
    assert_eq!(l.balance(&Account::Wallet(1)), dec!(42));
}

#[test]
fn a_hold_beyond_the_wallet_is_refused_but_an_overrun_charge_is_owed() {
    let mut l = Ledger::default();
    l.post(Entry::top_up("o1", 1, "sandbox", dec!(5), at(0))).unwrap();
    let s = SessionId("s1".into());
    let err = l.post(Entry::hold(&s, 1, dec!(6), at(1))).unwrap_err();
    assert!(matches!(err, LedgerError::Insufficient { ref account, .. } if account == "wallet:1"), "{err:?}");
    assert!(l.entries.len() == 1 && l.balance(&Account::Wallet(1)) == dec!(5), "nothing booked");
    l.post(Entry::hold(&s, 1, dec!(5), at(1))).unwrap();
    let payer = Payer { driver: 1, held: dec!(5) };
    l.post(Entry::capture(&payer, None, &bill("s1", dec!(7), dec!(0)), at(2))).unwrap();
    assert_eq!(l.balance(&Account::Wallet(1)), dec!(-2), "the driver owes what the hold did not cover");
}

#[test]
fn a_corrected_bill_is_a_reversal_and_a_new_capture() {
    let mut l = Ledger::default();
    l.post(Entry::top_up("o1", 1, "sandbox", dec!(20), at(0))).unwrap();
    let s = SessionId("s1".into());
    l.post(Entry::hold(&s, 1, dec!(10), at(1))).unwrap();
    let payer = Payer { driver: 1, held: dec!(10) };
    let first = Entry::capture(&payer, None, &bill("s1", dec!(8), dec!(0)), at(2));
    l.post(first.clone()).unwrap();
    l.post(first.reversal(at(3))).unwrap();
    l.post(Entry::recapture(&payer, None, &bill("s1", dec!(6), dec!(0)), 1, at(3))).unwrap();
    assert_eq!(l.balance(&Account::Wallet(1)), dec!(14));
    assert_eq!(l.balance(&Account::Revenue(None)), dec!(6));
    assert_eq!(l.entries.len(), 5, "nothing was changed or deleted, only added");
}

#[test]
fn unbalanced_or_sub_fen_entries_are_refused() {
    let mut e = Entry::top_up("o1", 1, "sandbox", dec!(5), at(0));
    e.lines[0].amount = dec!(6);
    assert_eq!(e.check(), Err(LedgerError::Unbalanced("topup:o1".into())));
    let e = Entry::top_up("o2", 1, "sandbox", dec!(0.001), at(0));
    assert_eq!(e.check(), Err(LedgerError::BadAmount("topup:o2".into())));
}

#[derive(Clone, Debug)]
enum Op {
    TopUp(i64, u32),
    Start(i64, u32),
    End(usize, u32, u32),
    Refund(i64, u32),
    Reverse(usize),
    Settle(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1..4i64, 1..10_000u32).prop_map(|(d, c)| Op::TopUp(d, c)),
        (1..4i64, 1..5_000u32).prop_map(|(d, c)| Op::Start(d, c)),
        (0..20usize, 0..8_000u32, 0..100u32).prop_map(|(i, c, p)| Op::End(i, c, p)),
        (1..4i64, 1..5_000u32).prop_map(|(d, c)| Op::Refund(d, c)),
        (0..40usize).prop_map(Op::Reverse),
        (0..50u32).prop_map(Op::Settle),
    ]
}

proptest! {
    /// Whatever happens, in any order: every balance is the sum of its
    /// entries, debits equal credits, and only a wallet charged for an
    /// overrun (or a reversal) is ever below zero.
    #[test]
    fn the_ledger_always_balances(ops in proptest::collection::vec(op(), 1..60)) {
        let mut l = Ledger::default();
        let mut open: Vec<(SessionId, Payer)> = Vec::new();
        let fen = |c: u32| Decimal::new(c as i64, 2);
        for (n, op) in ops.into_iter().enumerate() {
            let t = at(n as i64);
            let result = match op {
                Op::TopUp(d, c) => l.post(Entry::top_up(&format!("o{n}"), d, "sandbox", fen(c), t)),
                Op::Start(d, c) => {
                    let s = SessionId(format!("s{n}"));
                    let r = l.post(Entry::hold(&s, d, fen(c), t));
                    if r.is_ok() {
                        open.push((s, Payer { driver: d, held: fen(c) }));
                    }
                    r
                }
                Op::End(i, c, pct) if !open.is_empty() => {
                    let (s, payer) = open.remove(i % open.len());
                    let list = fen(c);
                    let discount = crate::pricing::cents(list * Decimal::from(pct) / dec!(100));
                    l.post(Entry::capture(&payer, Some(1), &bill(s.as_str(), list, discount), t))
                }
                Op::Refund(d, c) => l.post(Entry::refund(&format!("r{n}"), d, "sandbox", fen(c), t)),
                Op::Reverse(i) if !l.entries.is_empty() => {
                    let e = l.entries[i % l.entries.len()].clone();
                    if e.kind == EntryKind::Reversal { continue; }
                    l.post(e.reversal(t))
                }
                Op::Settle(pct) => {
                    let revenue = l.balance(&Account::Revenue(Some(1)));
                    let discounts = l.balance(&Account::Discounts(Some(1)));
                    let commission = crate::pricing::cents((revenue - discounts) * Decimal::from(pct) / dec!(100));
                    l.post(Entry::settlement(1, &format!("d{n}"), revenue, discounts, commission, t))
                }
                _ => continue,
            };
            match result {
                Ok(_) | Err(LedgerError::Insufficient { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
        let lines = l.entries.iter().flat_map(|e| &e.lines);
        prop_assert_eq!(lines.map(|l| l.amount).sum::<Decimal>(), Decimal::ZERO);
        for (account, balance) in l.accounts() {
            prop_assert_eq!(*balance, balance_of(account, &l.entries), "{}", account);
            let may_owe = matches!(account, Account::Wallet(_));
            prop_assert!(*balance >= Decimal::ZERO || may_owe, "{} at {}", account, balance);
        }
    }
}
