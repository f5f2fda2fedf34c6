//! `payment`'s signatures, notification checks and the sandbox.

use super::*;
use proptest::prelude::*;
use rust_decimal_macros::dec;

const SECRET: &[u8] = b"shared-secret";

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_770_000_000 + s, 0).unwrap()
}

fn body(order_id: &str, amount: &str, status: &str) -> Vec<u8> {
    format!(
        r#"{{"order_id":"{order_id}","provider_txn":"p-{order_id}","amount":"{amount}","status":"{status}","paid_at":"2026-02-02T02:40:00Z"}}"#
    )
    .into_bytes()
}

/// The one order the platform knows: `o1`, for 30 yuan.
fn orders(id: &str) -> Option<Decimal> {
    (id == "o1").then_some(dec!(30.00))
}

fn check_signed(body: &[u8]) -> Result<Notification, NotifyError> {
    check(SECRET, body, &sign(SECRET, body), orders)
}

#[test]
fn sign_is_lowercase_hex_hmac_sha256() {
    // RFC 4231, test case 2.
    assert_eq!(
        sign(b"Jefe", b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn sign_verify_round_trip() {
    let b = body("o1", "30", "paid");
    assert!(verify(SECRET, &b, &sign(SECRET, &b)));
    assert!(verify(SECRET, &b, &sign(SECRET, &b).to_uppercase()));
}

#[test]
fn verify_rejects_tampered_body_wrong_secret_and_bad_hex() {
    let b = body("o1", "30", "paid");
    let sig = sign(SECRET, &b);
    assert!(!verify(SECRET, &body("o1", "3000", "paid"), &sig));
    assert!(!verify(b"other-secret", &b, &sig));
    assert!(!verify(SECRET, &b, "not hex at all"));
    assert!(!verify(SECRET, &b, &sig[..sig.len() - 1]), "odd length");
    assert!(!verify(SECRET, &b, &sig[..sig.len() - 2]), "truncated tag");
    assert!(!verify(SECRET, &b, ""));
}

#[test]
fn check_accepts_a_signed_paid_notification_for_the_right_amount() {
    let n = check_signed(&body("o1", "30", "paid")).unwrap();
    assert_eq!(n.order_id, "o1");
    assert_eq!(n.provider_txn, "p-o1");
    assert_eq!(n.amount, dec!(30));
    assert_eq!(n.status, PayStatus::Paid);
    assert_eq!(n.paid_at, DateTime::parse_from_rfc3339("2026-02-02T02:40:00Z").unwrap());
}

#[test]
fn check_returns_each_error() {
    let e = check_signed(b"{\"order_id\":").unwrap_err();
    assert!(matches!(e, NotifyError::Malformed(ref m) if m.contains("EOF")), "{e:?}");
    assert_eq!(check_signed(&body("o1", "thirty", "paid")).unwrap_err().code(), "malformed");
    assert_eq!(check_signed(&body("o9", "30", "paid")), Err(NotifyError::UnknownOrder));
    assert_eq!(
        check_signed(&body("o1", "29.99", "paid")),
        Err(NotifyError::AmountMismatch { expected: dec!(30), got: dec!(29.99) })
    );
    assert_eq!(check_signed(&body("o1", "30", "failed")), Err(NotifyError::NotPaid));
}

#[test]
fn check_verifies_the_signature_before_anything_else() {
    let real = body("o1", "30", "paid");
    let sig = sign(SECRET, &real);
    for forged in [body("o1", "3000", "paid"), body("o9", "30", "paid"), b"garbage".to_vec()] {
        let looked_up = std::cell::Cell::new(false);
        let got = check(SECRET, &forged, &sig, |id| {
            looked_up.set(true);
            orders(id)
        });
        assert_eq!(got, Err(NotifyError::BadSignature));
        assert!(!looked_up.get(), "an unsigned body must not reach the order lookup");
    }
}

#[test]
fn error_codes() {
    let codes: Vec<_> = [
        NotifyError::BadSignature,
        NotifyError::Malformed("x".into()),
        NotifyError::UnknownOrder,
        NotifyError::AmountMismatch { expected: dec!(1), got: dec!(2) },
        NotifyError::NotPaid,
    ]
    .iter()
    .map(NotifyError::code)
    .collect();
    assert_eq!(codes, ["bad_signature", "malformed", "unknown_order", "amount_mismatch", "not_paid"]);
}

#[test]
fn notification_amount_is_a_json_string() {
    let (b, _) = Sandbox::new(SECRET).pay("o1", dec!(30.00), at(0));
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["amount"], "30.00");
    assert_eq!(v["status"], "paid");
}

#[test]
fn sandbox_payment_passes_check() {
    let sandbox = Sandbox::new(SECRET);
    let (b, sig) = sandbox.pay("o1", dec!(30), at(0));
    let n = check(SECRET, &b, &sig, orders).unwrap();
    assert_eq!(
        n,
        Notification {
            order_id: "o1".into(),
            provider_txn: "sbx-o1".into(),
            amount: dec!(30),
            status: PayStatus::Paid,
            paid_at: at(0),
        }
    );
    // Another secret's sandbox is not trusted.
    let (b, sig) = Sandbox::new("other").pay("o1", dec!(30), at(0));
    assert_eq!(check(SECRET, &b, &sig, orders), Err(NotifyError::BadSignature));
}

#[test]
fn sandbox_repeat_payment_is_a_replay_of_the_same_txn() {
    let sandbox = Sandbox::new(SECRET);
    let txn = |at| {
        let (b, sig) = sandbox.pay("o1", dec!(30), at);
        check(SECRET, &b, &sig, orders).unwrap().provider_txn
    };
    assert_eq!(txn(at(0)), txn(at(60)));
    assert_ne!(sandbox.pay("o2", dec!(30), at(0)).1, sandbox.pay("o1", dec!(30), at(0)).1);
    assert!(!format!("{sandbox:?}").contains("shared"), "Debug must not print the secret");
}

const STATEMENT: &str = "provider_txn,order_id,amount,paid_at
t1,o1,30.00,2026-02-02T02:40:00Z
t2,o2,12.5,2026-02-02T10:40:00+08:00
";

#[test]
fn parse_statement_good() {
    let lines = parse_statement(STATEMENT).unwrap();
    assert_eq!(
        lines,
        [
            StatementLine {
                provider_txn: "t1".into(),
                order_id: "o1".into(),
                amount: dec!(30.00),
                paid_at: DateTime::parse_from_rfc3339("2026-02-02T02:40:00Z").unwrap().into(),
            },
            StatementLine {
                provider_txn: "t2".into(),
                order_id: "o2".into(),
                amount: dec!(12.5),
                paid_at: DateTime::parse_from_rfc3339("2026-02-02T02:40:00Z").unwrap().into(),
            },
        ]
    );
    assert_eq!(parse_statement("provider_txn,order_id,amount,paid_at"), Ok(vec![]));
}

#[test]
fn parse_statement_crlf_and_whitespace() {
    let crlf = format!("\r\n  {}\r\n\r\n", STATEMENT.replace('\n', "\r\n").replace(',', " , "));
    assert_eq!(parse_statement(&crlf), parse_statement(STATEMENT));
    assert_eq!(parse_statement(&crlf).unwrap().len(), 2);
}

#[test]
fn parse_statement_reads_quoted_fields_and_a_byte_order_mark() {
    let csv = "\u{feff}provider_txn,order_id,amount,paid_at\r\n\"t,1\",\"o \"\"1\"\"\",30.00,2026-02-02T02:40:00Z\r\n";
    let lines = parse_statement(csv).unwrap();
    assert_eq!((lines[0].provider_txn.as_str(), lines[0].order_id.as_str()), ("t,1", "o \"1\""));
    assert_eq!(lines[0].amount, dec!(30.00));
}

#[test]
fn parse_statement_errors_name_the_line() {
    use StatementError as E;
    let h = "provider_txn,order_id,amount,paid_at\n";
    let ok = "t1,o1,1,2026-02-02T02:40:00Z\n";
    let cases = [
        ("", E::NoHeader),
        (
            "\n\nprovider_txn,order_id,amount\n",
            E::Header { line: 3, found: "provider_txn,order_id,amount".into() },
        ),
        (
            "order_id,provider_txn,amount,paid_at\n",
            E::Header { line: 1, found: "order_id,provider_txn,amount,paid_at".into() },
        ),
        (&format!("{h}t1,o1,1\n"), E::FieldCount { line: 2, found: 3 }),
        (&format!("{h}{ok}t2,o2,1,2026-02-02T02:40:00Z,x\n"), E::FieldCount { line: 3, found: 5 }),
        (&format!("{h},o1,1,2026-02-02T02:40:00Z\n"), E::Empty { line: 2, field: "provider_txn" }),
        (&format!("{h}t1, ,1,2026-02-02T02:40:00Z\n"), E::Empty { line: 2, field: "order_id" }),
        (&format!("{h}{ok}t2,o2,1.5x,2026-02-02T02:40:00Z\n"), E::Amount { line: 3, value: "1.5x".into() }),
        (&format!("{h}t1,o1,-1,2026-02-02T02:40:00Z\n"), E::Amount { line: 2, value: "-1".into() }),
        (&format!("{h}t1,o1,0,2026-02-02T02:40:00Z\n"), E::Amount { line: 2, value: "0".into() }),
        (&format!("{h}t1,o1,1,2026-02-02 02:40\n"), E::Time { line: 2, value: "2026-02-02 02:40".into() }),
        (&format!("{h}{ok}\n{ok}"), E::Duplicate { line: 4, provider_txn: "t1".into(), first: 2 }),
    ];
    for (csv, want) in cases {
        assert_eq!(parse_statement(csv), Err(want), "{csv:?}");
    }
    let msg = parse_statement(&format!("{h}{ok}{ok}")).unwrap_err().to_string();
    assert_eq!(msg, "line 3: provider_txn `t1` is already on line 2");
}

fn line(txn: &str, order: &str, amount: Decimal) -> StatementLine {
    StatementLine { provider_txn: txn.into(), order_id: order.into(), amount, paid_at: at(0) }
}

fn booked(txn: &str, order: &str, amount: Decimal) -> Booked {
    Booked { provider_txn: txn.into(), order_id: order.into(), amount }
}

#[test]
fn reconcile_reports_every_kind_sorted() {
    let statement = [
        line("t5", "o5", dec!(5)),
        line("t1", "o1", dec!(10)),
        line("t9", "o9", dec!(9)),
        line("t3", "o3", dec!(3.01)),
        line("t2", "o2", dec!(2.00)),
        line("t4", "oX", dec!(4)),
        line("t8", "o8", dec!(8)),
    ];
    let ours = [
        booked("t7", "o7", dec!(7)),
        booked("t1", "o1", dec!(10)),
        booked("t4", "o4", dec!(4)),
        booked("t3", "o3", dec!(3)),
        booked("t2", "o2", dec!(2)),
        booked("t6", "o6", dec!(6)),
    ];
    let r = reconcile(&statement, &ours);
    assert_eq!(r.matched, 2, "t1, and t2 (2.00 == 2)");
    assert_eq!(r.missing, [booked("t6", "o6", dec!(6)), booked("t7", "o7", dec!(7))]);
    assert_eq!(r.extra, [line("t5", "o5", dec!(5)), line("t8", "o8", dec!(8)), line("t9", "o9", dec!(9))]);
    assert_eq!(
        r.mismatched,
        [
            Mismatch {
                provider_txn: "t3".into(),
                order_id: "o3".into(),
                statement_amount: dec!(3.01),
                booked_amount: dec!(3),
            },
            Mismatch {
                provider_txn: "t4".into(),
                order_id: "o4".into(),
                statement_amount: dec!(4),
                booked_amount: dec!(4)
            },
        ]
    );
    assert!(!r.is_clean());
}

#[test]
fn reconcile_clean_and_duplicates() {
    let statement = [line("t1", "o1", dec!(1)), line("t2", "o2", dec!(2))];
    let r = reconcile(&statement, &[booked("t2", "o2", dec!(2)), booked("t1", "o1", dec!(1))]);
    assert!(r.is_clean());
    assert_eq!(r.matched, 2);
    assert!(reconcile(&[], &[]).is_clean());

    // Credited twice for one payment: the second booking has no line.
    let twice = [booked("t1", "o1", dec!(1)), booked("t1", "o1", dec!(1))];
    let r = reconcile(&statement[..1], &twice);
    assert_eq!((r.matched, r.missing.len()), (1, 1));
    // Listed twice by the provider: the second line has no booking.
    let r = reconcile(&[statement[0].clone(), statement[0].clone()], &twice[..1]);
    assert_eq!((r.matched, r.extra.len()), (1, 1));
}

/// What the statement does with one booked payment.
#[derive(Clone, Copy, Debug)]
enum Fate {
    Listed,
    Dropped,
    OtherAmount,
    OtherOrder,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![Just(Fate::Listed), Just(Fate::Dropped), Just(Fate::OtherAmount), Just(Fate::OtherOrder)]
}

proptest! {
    #[test]
    fn reconcile_accounts_for_every_line_and_booking(
        payments in prop::collection::vec((fate(), 1u32..1_000_000), 0..40),
        extras in prop::collection::vec(1u32..1_000_000, 0..10),
        rotate in any::<usize>(),
    ) {
        let ours: Vec<Booked> = payments
            .iter()
            .enumerate()
            .map(|(i, &(_, cents))| booked(&format!("t{i}"), &format!("o{i}"), Decimal::new(cents.into(), 2)))
            .collect();
        let mut statement = Vec::new();
        for (b, &(fate, _)) in ours.iter().zip(&payments) {
            match fate {
                Fate::Listed => statement.push(line(&b.provider_txn, &b.order_id, b.amount)),
                Fate::Dropped => {}
                Fate::OtherAmount => statement.push(line(&b.provider_txn, &b.order_id, b.amount + dec!(0.01))),
                Fate::OtherOrder => statement.push(line(&b.provider_txn, "elsewhere", b.amount)),
            }
        }
        for (j, &cents) in extras.iter().enumerate() {
            statement.push(line(&format!("x{j}"), &format!("ox{j}"), Decimal::new(cents.into(), 2)));
        }
        if !statement.is_empty() {
            let n = rotate % statement.len();
            statement.rotate_left(n);
        }

        let r = reconcile(&statement, &ours);
        prop_assert_eq!(r.matched + r.missing.len() + r.mismatched.len(), ours.len());
        prop_assert_eq!(r.matched + r.extra.len() + r.mismatched.len(), statement.len());

        let count = |f: fn(Fate) -> bool| payments.iter().filter(|(x, _)| f(*x)).count();
        prop_assert_eq!(r.matched, count(|f| matches!(f, Fate::Listed)));
        prop_assert_eq!(r.missing.len(), count(|f| matches!(f, Fate::Dropped)));
        prop_assert_eq!(r.mismatched.len(), count(|f| matches!(f, Fate::OtherAmount | Fate::OtherOrder)));
        prop_assert_eq!(r.extra.len(), extras.len());
        prop_assert_eq!(r.is_clean(), r.matched == ours.len() && extras.is_empty());
        prop_assert!(r.missing.windows(2).all(|w| w[0].provider_txn < w[1].provider_txn));
        prop_assert!(r.extra.windows(2).all(|w| w[0].provider_txn < w[1].provider_txn));
        prop_assert!(r.mismatched.windows(2).all(|w| w[0].provider_txn < w[1].provider_txn));
    }
}
