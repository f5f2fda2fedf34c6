//! Top-up payments: the provider's signed notification, its checks, a
//! sandbox provider, and reconciliation against the provider's statement.
//!
//! A payment provider confirms a paid top-up order asynchronously, by
//! calling us back, so anyone who can reach that endpoint could claim a
//! payment: we trust nothing that is not signed with the shared secret, and
//! even a signed notification must name a known order for the exact amount.
//! Money is only real once the provider's statement says so, so the
//! platform must prove every yuan it credited against that statement, and
//! every line of the statement against its own ledger.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The HTTP header carrying [`sign`]'s output for a notification body.
pub const SIGNATURE_HEADER: &str = "X-Chargeplane-Signature";

/// The only header a statement may have.
const STATEMENT_HEADER: [&str; 4] = ["provider_txn", "order_id", "amount", "paid_at"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayStatus {
    Paid,
    Failed,
}

/// What a provider sends when a top-up order is paid (or fails).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub order_id: String,
    /// The provider's own transaction id.
    pub provider_txn: String,
    /// Yuan, as a JSON string.
    pub amount: Decimal,
    pub status: PayStatus,
    pub paid_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("signature does not match the body")]
    BadSignature,
    #[error("malformed notification: {0}")]
    Malformed(String),
    #[error("no such top-up order")]
    UnknownOrder,
    #[error("paid {got} for an order of {expected}")]
    AmountMismatch { expected: Decimal, got: Decimal },
    #[error("notification is not a successful payment")]
    NotPaid,
}

impl NotifyError {
    /// A stable label for metrics and JSON errors.
    pub fn code(&self) -> &'static str {
        match self {
            NotifyError::BadSignature => "bad_signature",
            NotifyError::Malformed(_) => "malformed",
            NotifyError::UnknownOrder => "unknown_order",
            NotifyError::AmountMismatch { .. } => "amount_mismatch",
            NotifyError::NotPaid => "not_paid",
        }
    }
}

fn mac(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    mac
}

/// Lowercase hex of HMAC-SHA256(secret, body).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    hex::encode(mac(secret, body).finalize().into_bytes())
}

/// Whether `signature` (hex) is [`sign`]'s output for `body`, compared in
/// constant time. Anything that is not hex of the right length is false.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    match hex::decode(signature) {
        Ok(tag) => mac(secret, body).verify_slice(&tag).is_ok(),
        Err(_) => false,
    }
}

/// Checks a notification, in this order: the signature over the raw body,
/// the JSON, that `order_amount` knows the order, that the amount paid is
/// exactly the order's, and that the payment succeeded.
///
/// Replays are not detected here: a replayed notification passes every
/// check. The store credits each order id and provider transaction once.
pub fn check(
    secret: &[u8],
    body: &[u8],
    signature: &str,
    order_amount: impl FnOnce(&str) -> Option<Decimal>,
) -> Result<Notification, NotifyError> {
    let n = read(secret, body, signature)?;
    accept(&n, order_amount(&n.order_id))?;
    Ok(n)
}

/// A notification's body, once its signature is checked: nothing unsigned
/// is even parsed.
pub fn read(secret: &[u8], body: &[u8], signature: &str) -> Result<Notification, NotifyError> {
    if !verify(secret, body, signature) {
        return Err(NotifyError::BadSignature);
    }
    serde_json::from_slice(body).map_err(|e| NotifyError::Malformed(e.to_string()))
}

/// Whether an authentic notification pays its order: `order_amount` is the
/// order's amount, `None` for an order the platform does not know.
pub fn accept(n: &Notification, order_amount: Option<Decimal>) -> Result<(), NotifyError> {
    let expected = order_amount.ok_or(NotifyError::UnknownOrder)?;
    if n.amount != expected {
        return Err(NotifyError::AmountMismatch { expected, got: n.amount });
    }
    if n.status != PayStatus::Paid {
        return Err(NotifyError::NotPaid);
    }
    Ok(())
}

/// A provider that pays every order at once, so top-ups can be demonstrated
/// without a third party.
#[derive(Clone)]
pub struct Sandbox {
    secret: Vec<u8>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox").finish_non_exhaustive()
    }
}

impl Sandbox {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Sandbox { secret: secret.into() }
    }

    /// The body of a Paid notification and its signature. The transaction id
    /// is derived from the order id, so paying an order twice is a replay
    /// the platform must credit once.
    pub fn pay(&self, order_id: &str, amount: Decimal, at: DateTime<Utc>) -> (Vec<u8>, String) {
        let n = Notification {
            order_id: order_id.to_owned(),
            provider_txn: format!("sbx-{order_id}"),
            amount,
            status: PayStatus::Paid,
            paid_at: at,
        };
        let body = serde_json::to_vec(&n).expect("a notification serializes");
        let signature = sign(&self.secret, &body);
        (body, signature)
    }

    /// Reads a notification this sandbox signed.
    pub fn read(&self, body: &[u8], signature: &str) -> Result<Notification, NotifyError> {
        read(&self.secret, body, signature)
    }
}

/// One payment in a provider's statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    pub provider_txn: String,
    pub order_id: String,
    pub amount: Decimal,
    pub paid_at: DateTime<Utc>,
}

/// Why a statement was refused. Lines are numbered from 1, as in an editor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("statement is empty: expected the header `provider_txn,order_id,amount,paid_at`")]
    NoHeader,
    #[error("line {line}: header must be `provider_txn,order_id,amount,paid_at`, found `{found}`")]
    Header { line: usize, found: String },
    #[error("line {line}: not CSV: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("line {line}: expected 4 fields, found {found}")]
    FieldCount { line: usize, found: usize },
    #[error("line {line}: {field} is empty")]
    Empty { line: usize, field: &'static str },
    #[error("line {line}: amount `{value}` is not a positive number of yuan")]
    Amount { line: usize, value: String },
    #[error("line {line}: paid_at `{value}` is not an RFC 3339 time")]
    Time { line: usize, value: String },
    #[error("line {line}: provider_txn `{provider_txn}` is already on line {first}")]
    Duplicate { line: usize, provider_txn: String, first: usize },
}

/// Parses a statement: the header `provider_txn,order_id,amount,paid_at`,
/// then one payment a record, as RFC 4180 CSV (quoted fields, CRLF, a
/// spreadsheet's byte-order mark, blank lines and whitespace around fields
/// are all fine). Errors name the line they are on.
pub fn parse_statement(csv: &str) -> Result<Vec<StatementLine>, StatementError> {
    let text = csv.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    // A record's position is where the reader began, before the blank
    // lines it skipped: its line is that of the first byte after them.
    let line_at = |p: Option<&csv::Position>| {
        let from = p.map_or(0, |p| p.byte() as usize).min(text.len());
        let start = from + text[from..].bytes().take_while(|b| matches!(b, b'\r' | b'\n')).count();
        text.as_bytes()[..start].iter().filter(|b| **b == b'\n').count() + 1
    };
    let mut records = reader.records().filter_map(|r| match r {
        Ok(r) if r.iter().all(str::is_empty) => None,
        Ok(r) => Some(Ok((line_at(r.position()), r))),
        Err(e) => Some(Err(StatementError::Malformed { line: line_at(e.position()), reason: e.to_string() })),
    });
    let (line, header) = records.next().ok_or(StatementError::NoHeader)??;
    if !header.iter().eq(STATEMENT_HEADER) {
        return Err(StatementError::Header { line, found: header.iter().collect::<Vec<_>>().join(",") });
    }
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for record in records {
        let (line, fields) = record?;
        let [provider_txn, order_id, amount, paid_at] = fields.iter().collect::<Vec<_>>()[..] else {
            return Err(StatementError::FieldCount { line, found: fields.len() });
        };
        for (field, value) in [("provider_txn", provider_txn), ("order_id", order_id)] {
            if value.is_empty() {
                return Err(StatementError::Empty { line, field });
            }
        }
        let amount = Decimal::from_str_exact(amount)
            .ok()
            .filter(|a| *a > Decimal::ZERO)
            .ok_or_else(|| StatementError::Amount { line, value: amount.to_owned() })?;
        let paid_at = DateTime::parse_from_rfc3339(paid_at)
            .map_err(|_| StatementError::Time { line, value: paid_at.to_owned() })?
            .with_timezone(&Utc);
        if let Some(&first) = seen.get(provider_txn) {
            return Err(StatementError::Duplicate { line, provider_txn: provider_txn.to_owned(), first });
        }
        seen.insert(provider_txn.to_owned(), line);
        out.push(StatementLine {
            provider_txn: provider_txn.to_owned(),
            order_id: order_id.to_owned(),
            amount,
            paid_at,
        });
    }
    Ok(out)
}

/// A payment as the platform's ledger recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booked {
    pub provider_txn: String,
    pub order_id: String,
    pub amount: Decimal,
}

/// A transaction both sides know, but disagree on: the amount, the order,
/// or both. `order_id` is the platform's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub provider_txn: String,
    pub order_id: String,
    pub statement_amount: Decimal,
    pub booked_amount: Decimal,
}

/// The statement against the ledger, matched on provider transaction id.
/// Each list is sorted by `provider_txn`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub matched: usize,
    /// Booked by the platform, absent from the statement.
    pub missing: Vec<Booked>,
    /// In the statement, not booked by the platform.
    pub extra: Vec<StatementLine>,
    pub mismatched: Vec<Mismatch>,
}

impl Reconciliation {
    /// Every yuan accounted for on both sides.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.mismatched.is_empty()
    }
}

/// Matches each statement line with at most one booking: a transaction
/// repeated on either side matches once and the repeats are reported as
/// missing (booked twice) or extra (listed twice).
pub fn reconcile(statement: &[StatementLine], booked: &[Booked]) -> Reconciliation {
    let mut out = Reconciliation::default();
    let mut lines: BTreeMap<&str, &StatementLine> = BTreeMap::new();
    for l in statement {
        if lines.contains_key(l.provider_txn.as_str()) {
            out.extra.push(l.clone());
        } else {
            lines.insert(&l.provider_txn, l);
        }
    }
    for b in booked {
        match lines.remove(b.provider_txn.as_str()) {
            None => out.missing.push(b.clone()),
            Some(l) if l.amount == b.amount && l.order_id == b.order_id => out.matched += 1,
            Some(l) => out.mismatched.push(Mismatch {
                provider_txn: b.provider_txn.clone(),
                order_id: b.order_id.clone(),
                statement_amount: l.amount,
                booked_amount: b.amount,
            }),
        }
    }
    out.extra.extend(lines.into_values().cloned());
    out.missing.sort_by(|a, b| a.provider_txn.cmp(&b.provider_txn));
    out.extra.sort_by(|a, b| a.provider_txn.cmp(&b.provider_txn));
    out.mismatched.sort_by(|a, b| a.provider_txn.cmp(&b.provider_txn));
    out
}

#[cfg(test)]
mod tests {
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
            (
                &format!("{h}{ok}t2,o2,1.5x,2026-02-02T02:40:00Z\n"),
                E::Amount { line: 3, value: "1.5x".into() },
            ),
            (&format!("{h}t1,o1,-1,2026-02-02T02:40:00Z\n"), E::Amount { line: 2, value: "-1".into() }),
            (&format!("{h}t1,o1,0,2026-02-02T02:40:00Z\n"), E::Amount { line: 2, value: "0".into() }),
            (
                &format!("{h}t1,o1,1,2026-02-02 02:40\n"),
                E::Time { line: 2, value: "2026-02-02 02:40".into() },
            ),
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
        assert_eq!(
            r.extra,
            [line("t5", "o5", dec!(5)), line("t8", "o8", dec!(8)), line("t9", "o9", dec!(9))]
        );
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
}
