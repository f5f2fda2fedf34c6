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
mod tests;
