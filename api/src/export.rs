//! `chargeplane export`: copies the embedded store under a data directory
//! into another store (a ScyllaDB cluster, or another data directory),
//! keeping every id, with progress on stdout.
//!
//! After each page the position is saved beside the database
//! (`export-progress.json`, with the target it belongs to), so a copy that
//! stops resumes where it was; every write is idempotent, so a resumed or
//! repeated copy doubles nothing. The file is removed when the copy ends.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use store::export::{self, Position, Progress};
use store::{SqliteConfig, SqliteStore};

use crate::ServeConfig;

/// What `--to` names: `scylla://host1,host2/keyspace` or `sqlite:DIR`.
pub fn target_config(source: &ServeConfig, to: &str) -> Result<ServeConfig, String> {
    let mut cfg = source.clone();
    if to.starts_with("scylla://") {
        cfg.store = to.to_owned();
    } else if let Some(dir) = to.strip_prefix("sqlite:") {
        cfg.store = "sqlite".into();
        cfg.data_dir = PathBuf::from(dir);
        if same_file(&cfg.database(), &source.database()) {
            return Err("--to names the data directory being exported".into());
        }
    } else {
        return Err(format!("--to {to:?}: use scylla://host[:port],.../keyspace or sqlite:DIR"));
    }
    Ok(cfg)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[derive(Serialize, Deserialize)]
struct Saved {
    to: String,
    position: Position,
}

/// Copies `cfg`'s embedded store to `to`, `page` records at a time; with
/// `restart`, from the start even if a saved position says otherwise.
pub async fn run(cfg: &ServeConfig, to: &str, page: usize, restart: bool) -> Result<u64, String> {
    let target_cfg = target_config(cfg, to)?;
    let db = cfg.database();
    if !db.exists() {
        return Err(format!("no database at {}", db.display()));
    }
    let source = SqliteStore::open(SqliteConfig::new(&db)).map_err(|e| e.to_string())?;
    let target = crate::server::open_store(&target_cfg).await.map_err(|e| format!("opening {to}: {e}"))?;
    let saved_at = cfg.data_dir.join("export-progress.json");
    let from =
        match std::fs::read_to_string(&saved_at).ok().and_then(|t| serde_json::from_str::<Saved>(&t).ok()) {
            Some(saved) if saved.to == to && !restart => {
                println!("resuming at {} after {:?}", saved.position.table.name(), saved.position.after);
                saved.position
            }
            _ => Position::start(),
        };
    let started = Instant::now();
    let mut last_line = Instant::now() - Duration::from_secs(1);
    let mut failed_save = None;
    let report = |p: &Progress| {
        let saved = Saved { to: to.to_owned(), position: p.position.clone() };
        if let Err(e) = std::fs::write(&saved_at, serde_json::to_vec(&saved).unwrap_or_default()) {
            failed_save.get_or_insert(e.to_string());
        }
        if p.done || last_line.elapsed() >= Duration::from_secs(1) {
            last_line = Instant::now();
            let done = if p.done { ", done" } else { "" };
            println!("{}: {}/{}{done}", p.table.name(), p.copied, p.total);
        }
    };
    let copied =
        export::copy(&source, target.as_ref(), from, page, report).await.map_err(|e| e.to_string())?;
    if let Some(e) = failed_save {
        eprintln!("warning: could not save the position to {}: {e}", saved_at.display());
    }
    let _ = std::fs::remove_file(&saved_at);
    println!("copied {copied} records to {to} in {:.1} s", started.elapsed().as_secs_f64());
    Ok(copied)
}
