//! The keyspace, its tables, and the migrations that build them.
//!
//! Every table is shaped by a query the `Store` trait makes, so every read
//! names a whole partition key and none needs `ALLOW FILTERING` or a
//! secondary index. What one write must keep in step across tables (a
//! session and its open-session entry, an alarm and its listings) goes in
//! one logged batch, which the cluster applies eventually-atomically.
//!
//! Conventions (see `codec`): money and energy are `text` holding the exact
//! decimal; timestamps are `bigint` microseconds since the Unix epoch, UTC
//! (CQL `timestamp` is milliseconds, and records must come back equal to the
//! microsecond); structured values read only whole are JSON `text`.
//!
//! Changing the schema later is appending a step to `MIGRATIONS`, never
//! editing one that has shipped; `migrate` applies them.

const V1: &[&str] = &[
    // Ids the trait hands out as increasing integers (tariffs, plans,
    // stations, alarms): one row per kind, advanced by compare-and-set.
    "CREATE TABLE IF NOT EXISTS id_sequences (
        name    text PRIMARY KEY,
        next_id bigint          -- the id the next create gets
    )",
    // Reference data, read by id. tou, pricing, power: JSON (TouPrices,
    // Pricing, PowerConfig; power is null for a station whose power is not
    // managed).
    "CREATE TABLE IF NOT EXISTS tariffs (
        id         bigint PRIMARY KEY,
        name       text,
        tou        text,
        created_at bigint
    )",
    "CREATE TABLE IF NOT EXISTS plans (
        id         bigint PRIMARY KEY,
        name       text,
        pricing    text,
        created_at bigint
    )",
    "CREATE TABLE IF NOT EXISTS stations (
        id                 bigint PRIMARY KEY,
        name               text,
        tariff_id          bigint,
        utc_offset_minutes int,
        service_fee        text,
        minimum_charge     text,
        created_at         bigint,
        power              text
    )",
    // A pile by id: the row a new pile claims (IF NOT EXISTS).
    "CREATE TABLE IF NOT EXISTS piles_by_id (
        id         text PRIMARY KEY,
        station_id bigint,
        protocol   text,
        ports      int,
        created_at bigint
    )",
    // Every pile, for piles(): spread over codec::PILE_BUCKETS partitions by
    // a fixed hash of the id, each clustered by id, so a listing is a few
    // ordered partition scans merged, and no partition grows with the whole
    // fleet.
    "CREATE TABLE IF NOT EXISTS piles (
        bucket     int,
        id         text,
        station_id bigint,
        protocol   text,
        ports      int,
        created_at bigint,
        PRIMARY KEY ((bucket), id)
    ) WITH CLUSTERING ORDER BY (id ASC)",
    // A session by id, rewritten whole on every transition with the write
    // time the store assigned when it was asked (USING TIMESTAMP), so the
    // last transition asked for wins whatever order the writes land in.
    // terms, meter: JSON. tariff_id and plan_id repeat terms, for reports.
    "CREATE TABLE IF NOT EXISTS sessions (
        id         text PRIMARY KEY,
        pile_id    text,
        port       int,
        station_id bigint,
        tariff_id  bigint,
        plan_id    bigint,
        state      text,
        created_at bigint,
        started_at bigint,
        ended_at   bigint,
        stop_code  int,
        stop_text  text,
        terms      text,
        meter      text
    )",
    // The open (starting, charging, stopping) sessions of a pile, oldest
    // first: written with the session in one logged batch, deleted when it
    // finishes or fails. A handful of rows per pile, however long the history.
    "CREATE TABLE IF NOT EXISTS open_sessions_by_pile (
        pile_id    text,
        created_at bigint,
        session_id text,
        PRIMARY KEY ((pile_id), created_at, session_id)
    )",
    // Meter readings: a partition per session and UTC day (day_bucket =
    // micros / 86400e6), so a long charge never makes one huge partition;
    // clustered by time then seq, which orders readings sharing a timestamp
    // by arrival (seq is the store's monotonic write clock).
    "CREATE TABLE IF NOT EXISTS samples (
        session_id text,
        day_bucket int,
        read_at    bigint,
        seq        bigint,
        kwh        text,
        voltage    text,
        amperage   text,
        power      text,
        soc        int,
        PRIMARY KEY ((session_id, day_bucket), read_at, seq)
    ) WITH CLUSTERING ORDER BY (read_at ASC, seq ASC)",
    // One bill per session, claimed with INSERT ... IF NOT EXISTS: the row
    // existing is what bills a session exactly once. final_session is the
    // finished SessionRecord (JSON) the bill was made with, so a crash
    // between claiming the bill and rewriting the session row is repaired
    // from it. lines: JSON [BillLine].
    "CREATE TABLE IF NOT EXISTS bills (
        session_id     text PRIMARY KEY,
        tariff_id      bigint,
        plan_id        bigint,
        lines          text,
        kwh            text,
        seconds        bigint,
        energy_amount  text,
        service_amount text,
        total          text,
        prepaid        text,
        refund         text,
        reconciliation text,
        created_at     bigint,
        final_session  text
    )",
    // Alarms by id. acknowledged_at and cleared_at are set once, each by a
    // compare-and-set (IF ... = null), so the first one stands.
    "CREATE TABLE IF NOT EXISTS alarms (
        id              bigint PRIMARY KEY,
        station_id      bigint,
        pile_id         text,
        port            int,
        kind            text,
        severity        text,
        message         text,
        raised_at       bigint,
        acknowledged_at bigint,
        cleared_at      bigint
    )",
    // Listings, newest first, holding only ids: the alarm row is the one
    // place its state lives, fetched by id for a page. A station-wide alarm
    // (pile_id null) is listed by station only.
    "CREATE TABLE IF NOT EXISTS alarms_by_station (
        station_id bigint,
        id         bigint,
        PRIMARY KEY ((station_id), id)
    ) WITH CLUSTERING ORDER BY (id DESC)",
    "CREATE TABLE IF NOT EXISTS alarms_by_pile (
        pile_id text,
        id      bigint,
        PRIMARY KEY ((pile_id), id)
    ) WITH CLUSTERING ORDER BY (id DESC)",
    // Alarms not yet cleared (few), in one partition (bucket = 0).
    "CREATE TABLE IF NOT EXISTS open_alarms (
        bucket int,
        id     bigint,
        PRIMARY KEY ((bucket), id)
    ) WITH CLUSTERING ORDER BY (id DESC)",
    // Responses to API requests that carried an Idempotency-Key, claimed
    // with INSERT ... IF NOT EXISTS and gone after 7 days.
    "CREATE TABLE IF NOT EXISTS idempotency (
        key         text PRIMARY KEY,
        fingerprint text,
        status      int,
        body        text,
        created_at  bigint
    ) WITH default_time_to_live = 604800",
];

const V2: &[&str] = &[
    // Money (ledger.rs, accounts.rs, settlement.rs). An `ALTER TABLE ... ADD`
    // cannot say IF NOT EXISTS in CQL, so `migrate` skips one whose column
    // the keyspace already has (a step re-run after its node died).
    //
    // The merchant a station's charges earn for; null: the operator's own.
    "ALTER TABLE stations ADD merchant_id bigint",
    // Null on bills stored before discounts: the total was the list price.
    "ALTER TABLE bills ADD list_total text",
    "ALTER TABLE bills ADD discount text",
    // Merchants, drivers and rules take ids from id_sequences.
    "CREATE TABLE IF NOT EXISTS merchants (
        id                 bigint PRIMARY KEY,
        name               text,
        commission_percent text,
        created_at         bigint
    )",
    // A driver by id. The row is written before its phone is claimed, so a
    // claimed phone always leads to a row; a row whose claim was lost is
    // deleted (or, if its node died, left unreachable).
    "CREATE TABLE IF NOT EXISTS drivers (
        id             bigint PRIMARY KEY,
        phone          text,
        password_hash  text,
        class          text,
        status         text,
        created_at     bigint,
        last_active_at bigint
    )",
    // The uniqueness of phone numbers: claimed with INSERT ... IF NOT EXISTS.
    "CREATE TABLE IF NOT EXISTS drivers_by_phone (
        phone     text PRIMARY KEY,
        driver_id bigint
    )",
    // A card by number, claimed with INSERT ... IF NOT EXISTS; its status is
    // changed by compare-and-set only (UPDATE ... IF EXISTS), so every write
    // of the row is a Paxos write.
    "CREATE TABLE IF NOT EXISTS cards (
        number     text PRIMARY KEY,
        driver_id  bigint,
        kind       text,
        status     text,
        created_at bigint
    )",
    // A driver's card numbers, written before the card is claimed: a number
    // whose card row belongs to another driver (or to none) is skipped.
    "CREATE TABLE IF NOT EXISTS cards_by_driver (
        driver_id bigint,
        number    text,
        PRIMARY KEY ((driver_id), number)
    ) WITH CLUSTERING ORDER BY (number ASC)",
    // Every price rule (an operator has tens) in one partition (bucket = 0).
    // rule: JSON NewRule.
    "CREATE TABLE IF NOT EXISTS rules (
        bucket     int,
        id         bigint,
        rule       text,
        created_at bigint,
        PRIMARY KEY ((bucket), id)
    ) WITH CLUSTERING ORDER BY (id ASC)",
    // Top-up orders, claimed with IF NOT EXISTS; paid by compare-and-set
    // (UPDATE ... IF status = 'pending'), so a replayed notification pays once.
    "CREATE TABLE IF NOT EXISTS orders (
        id           text PRIMARY KEY,
        driver_id    bigint,
        amount       text,
        provider     text,
        status       text,
        provider_txn text,
        created_at   bigint,
        paid_at      bigint
    )",
    // A provider's transaction pays one order: claimed with IF NOT EXISTS.
    "CREATE TABLE IF NOT EXISTS orders_by_txn (
        provider_txn text PRIMARY KEY,
        order_id     text
    )",
    // Paid orders by the UTC day of paid_at (day = micros / 86400e6), for
    // paid_orders(from, until). Written before the order is marked paid, so
    // it may list an order another notification paid at another time: the
    // order row decides.
    "CREATE TABLE IF NOT EXISTS paid_orders_by_day (
        day      int,
        paid_at  bigint,
        order_id text,
        PRIMARY KEY ((day), paid_at, order_id)
    ) WITH CLUSTERING ORDER BY (paid_at ASC, order_id ASC)",
    // The UTC days that have rows in a day-partitioned listing, per series:
    // 'ledger' (ledger_by_day), 'paid_orders' (paid_orders_by_day) and
    // 'account:<account>' (ledger_by_account). A listing over a time range
    // reads only the days that exist, never one query per calendar day.
    "CREATE TABLE IF NOT EXISTS active_days (
        series text,
        day    int,
        PRIMARY KEY ((series), day)
    ) WITH CLUSTERING ORDER BY (day ASC)",
    // The ledger. An entry's key is claimed with INSERT ... IF NOT EXISTS
    // (state 'pending'), its lines are applied to account_balances, it is
    // listed, and only then marked 'applied' (UPDATE ... IF state =
    // 'pending'). lines: JSON [Line]. posted: the poster's write clock, which
    // orders listings. lease: when the writer now completing it took it (the
    // poster, or a writer that recovered it after a crash, by compare-and-set).
    "CREATE TABLE IF NOT EXISTS ledger_entries (
        key       text PRIMARY KEY,
        kind      text,
        at        bigint,
        reference text,
        lines     text,
        posted    bigint,
        lease     bigint,
        state     text
    )",
    // Entries being posted, by the hour they were posted in (hour = micros /
    // 3600e6): written before the key is claimed and deleted once it is
    // applied or withdrawn, so a sweep finds what a crashed writer left
    // half-posted. Rows expire after 8 days; a tombstone resurrected after
    // the short gc_grace only makes the sweep look at an applied entry again.
    "CREATE TABLE IF NOT EXISTS ledger_pending (
        hour   int,
        key    text,
        posted bigint,
        PRIMARY KEY ((hour), key)
    ) WITH default_time_to_live = 691200 AND gc_grace_seconds = 3600",
    // Each account in one partition: its balance row (entry_key = '=balance':
    // the balance, exact decimal text in the account's own sense, and a
    // version counting its changes), and one row per entry applied to it.
    // An entry is applied to an account by one single-partition conditional
    // batch: UPDATE the balance row IF version = the one read, and INSERT the
    // entry's row. The entry's row existing is what says it was applied to
    // the account, so a resumed posting never applies it twice. The version
    // (not the balance) is compared, so a balance that came back to the same
    // value is not taken for an unchanged one. Entry rows are only needed
    // while their entry may be resumed, so they expire after 90 days
    // (USING TTL), which bounds the partition of a busy account.
    "CREATE TABLE IF NOT EXISTS account_balances (
        account   text,
        entry_key text,
        balance   text,
        version   bigint,
        PRIMARY KEY ((account), entry_key)
    )",
    // Listings of applied entries, whole (entries never change), clustered
    // by (posted, key): an account's per UTC day of `at`, a reference's (an
    // order, a session, a statement: a few entries each), and every entry
    // per UTC day of `at`.
    "CREATE TABLE IF NOT EXISTS ledger_by_account (
        account   text,
        day       int,
        posted    bigint,
        key       text,
        kind      text,
        at        bigint,
        reference text,
        lines     text,
        PRIMARY KEY ((account, day), posted, key)
    ) WITH CLUSTERING ORDER BY (posted ASC, key ASC)",
    "CREATE TABLE IF NOT EXISTS ledger_by_reference (
        reference text,
        posted    bigint,
        key       text,
        kind      text,
        at        bigint,
        lines     text,
        PRIMARY KEY ((reference), posted, key)
    ) WITH CLUSTERING ORDER BY (posted ASC, key ASC)",
    "CREATE TABLE IF NOT EXISTS ledger_by_day (
        day       int,
        posted    bigint,
        key       text,
        kind      text,
        at        bigint,
        reference text,
        lines     text,
        PRIMARY KEY ((day), posted, key)
    ) WITH CLUSTERING ORDER BY (posted ASC, key ASC)",
    // A merchant's statement of a local day (YYYY-MM-DD), claimed with
    // INSERT ... IF NOT EXISTS: an issued statement never changes.
    // statement: JSON Statement.
    "CREATE TABLE IF NOT EXISTS statements (
        merchant_id bigint,
        day         text,
        statement   text,
        PRIMARY KEY ((merchant_id), day)
    )",
    // Login tokens by the hash of their secret, claimed with IF NOT EXISTS.
    // record: JSON Token (TOKEN is a reserved word in CQL). Each row lives
    // 30 days past its expiry (USING TTL).
    "CREATE TABLE IF NOT EXISTS tokens (
        hash       text PRIMARY KEY,
        record     text,
        expires_at bigint
    )",
];

const V3: &[&str] = &[
    // Each bill a correction replaced, by session; revision 0 is the
    // original. A revision is claimed with IF NOT EXISTS, so two operators
    // correcting one bill at once cannot both win.
    "CREATE TABLE IF NOT EXISTS bill_revisions (
        session_id  text,
        revision    int,
        bill        text,
        replaced_at bigint,
        PRIMARY KEY (session_id, revision)
    )",
];

const V4: &[&str] = &[
    // Diagnostic frames by pile, newest first, kept 30 days so a busy
    // pile's partition stays bounded. seq orders frames of one instant.
    "CREATE TABLE IF NOT EXISTS diagnostics (
        pile_id    text,
        at         bigint,
        seq        bigint,
        port       int,
        session_id text,
        kind       text,
        data       text,
        PRIMARY KEY ((pile_id), at, seq)
    ) WITH CLUSTERING ORDER BY (at DESC, seq DESC) AND default_time_to_live = 2592000",
    // People who run the platform; usernames are claimed with IF NOT EXISTS.
    "CREATE TABLE IF NOT EXISTS users (
        id            bigint PRIMARY KEY,
        username      text,
        password_hash text,
        role          text,
        merchant_id   bigint,
        created_at    bigint
    )",
    "CREATE TABLE IF NOT EXISTS users_by_name (
        username text PRIMARY KEY,
        user_id  bigint
    )",
    // Each wallet-paid charge under its driver, newest first.
    "CREATE TABLE IF NOT EXISTS sessions_by_driver (
        driver_id  bigint,
        created_at bigint,
        session_id text,
        PRIMARY KEY ((driver_id), created_at, session_id)
    ) WITH CLUSTERING ORDER BY (created_at DESC, session_id DESC)",
];

const V5: &[&str] = &[
    // StationDetails as JSON: address, coordinates, opening hours, photos.
    "ALTER TABLE stations ADD details text",
];

const V6: &[&str] = &[
    // Tenants. Operator 1 owns whatever was created before there were
    // others (a null operator_id reads as 1); the next operator gets id 2.
    "CREATE TABLE IF NOT EXISTS operators (
        id         bigint PRIMARY KEY,
        name       text,
        status     text,
        created_at bigint
    )",
    "INSERT INTO operators (id, name, status, created_at) VALUES (1, 'default', 'active', 0) IF NOT EXISTS",
    "INSERT INTO id_sequences (name, next_id) VALUES ('operators', 2) IF NOT EXISTS",
    "ALTER TABLE tariffs ADD operator_id bigint",
    "ALTER TABLE plans ADD operator_id bigint",
    "ALTER TABLE stations ADD operator_id bigint",
    "ALTER TABLE merchants ADD operator_id bigint",
    // Null for platform admins.
    "ALTER TABLE users ADD operator_id bigint",
];

const V7: &[&str] = &[
    // Reports (report.rs), by station and UTC month (month = yyyymm of the
    // time clustered on), so a report reads a station's few months, each a
    // range of one partition. A billed charge by when it ended (charge: JSON
    // report::Charge), written with its bill and rewritten when the bill is
    // corrected.
    "CREATE TABLE IF NOT EXISTS charges_by_station (
        station_id bigint,
        month      int,
        ended_at   bigint,
        session_id text,
        charge     text,
        PRIMARY KEY ((station_id, month), ended_at, session_id)
    ) WITH CLUSTERING ORDER BY (ended_at ASC, session_id ASC)",
    // An alarm by when it was raised, written in the alarm's logged batch.
    "CREATE TABLE IF NOT EXISTS alarms_by_station_month (
        station_id bigint,
        month      int,
        raised_at  bigint,
        id         bigint,
        pile_id    text,
        kind       text,
        PRIMARY KEY ((station_id, month), raised_at, id)
    ) WITH CLUSTERING ORDER BY (raised_at ASC, id ASC)",
];

const V8: &[&str] = &[
    // What operators took out of service (store::Item): a partition per
    // kind, since a kind has at most thousands out at once.
    "CREATE TABLE IF NOT EXISTS out_of_service (
        kind  text,
        key   text,
        since bigint,
        PRIMARY KEY ((kind), key)
    )",
];

const V9: &[&str] = &[
    // Which node holds each pile's link (docs/scylla.md, several nodes):
    // written at login and refreshed with a TTL, so a dead node's rows lapse.
    "CREATE TABLE IF NOT EXISTS pile_nodes (
        pile_id    text PRIMARY KEY,
        node_id    text,
        http_addr  text,
        updated_at bigint
    ) WITH default_time_to_live = 90",
];

const V10: &[&str] = &[
    // Each pile's offline card list (docs/scylla.md): a partition per pile.
    "CREATE TABLE IF NOT EXISTS offline_cards (
        pile_id text,
        card    text,
        PRIMARY KEY ((pile_id), card)
    )",
];

const V11: &[&str] = &[
    // Which node runs each station's power management (store::leases,
    // docs/scylla.md): changed only by lightweight transactions; no TTL, so
    // the fencing token survives its holders.
    "CREATE TABLE IF NOT EXISTS station_leases (
        station_id bigint PRIMARY KEY,
        holder     text,
        http_addr  text,
        fencing_token bigint,
        expires_at bigint
    )",
];

const V12: &[&str] = &[
    // The console's session list (listing.rs): each session's id under its
    // station and UTC month of creation (yyyymm), newest first, and which
    // months a station has sessions in.
    "CREATE TABLE IF NOT EXISTS sessions_by_station_month (
        station_id bigint,
        month      int,
        created_at bigint,
        session_id text,
        PRIMARY KEY ((station_id, month), created_at, session_id)
    ) WITH CLUSTERING ORDER BY (created_at DESC, session_id DESC)",
    "CREATE TABLE IF NOT EXISTS session_months (
        station_id bigint,
        month      int,
        PRIMARY KEY ((station_id), month)
    )",
];

const V13: &[&str] = &[
    // Each station's power every station_power_sample_ms (power_history.rs):
    // a partition per station and UTC day (days since 1970), rows written
    // with a TTL of the retention. Watts as decimal text.
    "CREATE TABLE IF NOT EXISTS station_power (
        station_id  bigint,
        day         int,
        at          bigint,
        limit_w     text,
        allocated_w text,
        measured_w  text,
        PRIMARY KEY ((station_id, day), at)
    ) WITH CLUSTERING ORDER BY (at ASC)",
];

const V14: &[&str] = &[
    // Charge points' OCPP passwords, hashed (docs/scylla.md).
    "CREATE TABLE IF NOT EXISTS ocpp_passwords (
        pile_id text PRIMARY KEY,
        hash    text
    )",
];

const V15: &[&str] = &[
    // The cluster's live nodes (docs/scylla.md, several nodes): one small
    // partition (bucket always 0), each node's row rewritten with a TTL on
    // the directory's refresh cadence, so a dead node's row lapses.
    "CREATE TABLE IF NOT EXISTS cluster_nodes (
        bucket     int,
        node_id    text,
        http_addr  text,
        updated_at bigint,
        PRIMARY KEY ((bucket), node_id)
    ) WITH default_time_to_live = 90",
];

/// Every schema step, oldest first; step `n` is version `n`.
pub(super) const MIGRATIONS: &[&[&str]] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15];

#[cfg(test)]
mod tests;
