//! Placeholder until the SQLite backend lands.
pub struct SqliteConfig;
pub struct SqliteStore;
