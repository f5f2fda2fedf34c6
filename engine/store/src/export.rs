//! Moving an embedded store's contents into another store, keeping every id.
//!
//! An operator who outgrows one node copies its SQLite file into a ScyllaDB
//! cluster (`chargeplane export`). The source pages through its tables in an
//! order where parents come before children (`Table::ALL`), as `Record`s;
//! the target writes them with `Import::import`, which keeps the ids they
//! carry, writes each record so that writing it again changes nothing, and
//! raises its id sequences above them. Ledger entries are posted in the
//! order they were booked, so balances are rebuilt by the ledger's own rule
//! and a key books once however often the copy runs. A copy that stops
//! resumes from the last page it reports.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Diagnostic, Item, PileRecord, Result, SqliteStore, Station, Store, StoredResponse};
use domain::accounts::{Card, Driver, Merchant, Operator, Order, Rule, Token, User};
use domain::alarm::Alarm;
use domain::ledger::Entry;
use domain::pricing::{Bill, PricePlan};
use domain::session::{MeterSample, SessionRecord};
use domain::settlement::Statement;
use domain::tariff::Tariff;
use vocab::{PileId, SessionId};

/// Writing what another store exported.
#[async_trait]
pub trait Import: Send + Sync + 'static {
    /// Writes records another store exported (`export`), keeping their ids
    /// and times; writing a record again changes nothing. Ids the store
    /// hands out afterwards are above the imported ones.
    async fn import(&self, records: Vec<Record>) -> Result<()>;
}

/// One thing a store keeps, with the ids and times it was stored under.
// Records travel in pages of hundreds, so boxing the large session variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    Operator(Operator),
    Tariff(Tariff),
    Plan(PricePlan),
    Merchant(Merchant),
    Station(Station),
    Pile(PileRecord),
    Driver(Driver),
    /// A session, with the bill in force if it was billed.
    Session(SessionRecord, Option<Bill>),
    /// All of a session's readings, oldest first; they replace any imported before.
    Samples(SessionId, Vec<MeterSample>),
    /// A bill a correction replaced (revision 0: the original).
    BillRevision {
        revision: u32,
        bill: Bill,
        replaced_at: DateTime<Utc>,
    },
    /// All of a pile's diagnostics, oldest first; they replace any imported before.
    Diagnostics(PileId, Vec<Diagnostic>),
    Alarm(Alarm),
    Response(String, StoredResponse),
    Card(Card),
    Rule(Rule),
    Order(Order),
    /// Posted, so the target books it once and rebuilds the balances.
    Entry(Entry),
    Statement(Statement),
    User(User),
    /// A login token under the hash of its secret.
    Token(String, Token),
    /// Something taken out of service, and since when.
    OutOfService(Item, DateTime<Utc>),
    /// A pile's offline card list; imported cards join any already listed.
    OfflineCards(PileId, Vec<String>),
    /// An OCPP charge point's password, as its argon2 hash.
    OcppPassword(PileId, String),
}

/// The tables, in the order they are copied: every record's parents (and a
/// statement's settlement entry) are in a table before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Operators,
    Tariffs,
    Plans,
    Merchants,
    Stations,
    Piles,
    Drivers,
    Sessions,
    Samples,
    BillRevisions,
    Diagnostics,
    Alarms,
    Responses,
    Cards,
    Rules,
    Orders,
    Entries,
    Statements,
    Users,
    Tokens,
    OutOfService,
    OfflineCards,
    OcppPasswords,
}

impl Table {
    pub const ALL: [Table; 23] = [
        Table::Operators,
        Table::Tariffs,
        Table::Plans,
        Table::Merchants,
        Table::Stations,
        Table::Piles,
        Table::Drivers,
        Table::Sessions,
        Table::Samples,
        Table::BillRevisions,
        Table::Diagnostics,
        Table::Alarms,
        Table::Responses,
        Table::Cards,
        Table::Rules,
        Table::Orders,
        Table::Entries,
        Table::Statements,
        Table::Users,
        Table::Tokens,
        Table::OutOfService,
        Table::OfflineCards,
        Table::OcppPasswords,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Operators => "operators",
            Table::Tariffs => "tariffs",
            Table::Plans => "plans",
            Table::Merchants => "merchants",
            Table::Stations => "stations",
            Table::Piles => "piles",
            Table::Drivers => "drivers",
            Table::Sessions => "sessions",
            Table::Samples => "samples",
            Table::BillRevisions => "bill_revisions",
            Table::Diagnostics => "diagnostics",
            Table::Alarms => "alarms",
            Table::Responses => "responses",
            Table::Cards => "cards",
            Table::Rules => "rules",
            Table::Orders => "orders",
            Table::Entries => "entries",
            Table::Statements => "statements",
            Table::Users => "users",
            Table::Tokens => "tokens",
            Table::OutOfService => "out_of_service",
            Table::OfflineCards => "offline_cards",
            Table::OcppPasswords => "ocpp_passwords",
        }
    }
}

/// Where a copy is: the table, and the key of the last record copied from it
/// (`None`: none yet). Saved after each page, it is where a resumed copy starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub table: Table,
    pub after: Option<String>,
}

impl Position {
    pub fn start() -> Self {
        Position { table: Table::ALL[0], after: None }
    }
}

/// A page of records and the position after it (`None`: the table is done).
pub struct Page {
    pub records: Vec<Record>,
    pub next: Option<String>,
}

/// What a copy reports after each page it has written.
#[derive(Clone, Debug)]
pub struct Progress {
    /// The table the page was from.
    pub table: Table,
    /// Where the next page starts: save it to resume.
    pub position: Position,
    /// Records of this table copied by this run.
    pub copied: u64,
    /// Records the table holds (per session or pile for samples and diagnostics).
    pub total: u64,
    /// The table is done.
    pub done: bool,
}

/// Copies `source` into `target` from `from` on, `page` records at a time,
/// calling `progress` after each page is written. Returns the records copied.
pub async fn copy(
    source: &SqliteStore,
    target: &dyn Store,
    from: Position,
    page: usize,
    mut progress: impl FnMut(&Progress),
) -> Result<u64> {
    let start = Table::ALL.iter().position(|t| *t == from.table).unwrap_or(0);
    let mut all = 0;
    for (i, &table) in Table::ALL.iter().enumerate().skip(start) {
        let mut after = if i == start { from.after.clone() } else { None };
        let total = source.export_count(table).await?;
        let mut copied = 0;
        loop {
            let Page { records, next } = source.export(table, after.clone(), page.max(1)).await?;
            copied += records.len() as u64;
            all += records.len() as u64;
            target.import(records).await?;
            let done = next.is_none();
            let position = match (&next, Table::ALL.get(i + 1)) {
                (Some(_), _) => Position { table, after: next.clone() },
                (None, Some(&table)) => Position { table, after: None },
                (None, None) => Position { table, after: after.clone() },
            };
            progress(&Progress { table, position, copied, total, done });
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
    }
    Ok(all)
}
