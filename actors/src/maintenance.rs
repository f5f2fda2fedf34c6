//! Remote maintenance commands and what became of them.
//!
//! Each command sent to a pile is recorded as pending; the pile's answer
//! marks it acknowledged or refused, and silence past the command timeout
//! marks it timed out. A pile keeps its recent commands so operators can see
//! each outcome over HTTP; outcomes are counted by kind.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::adapter::Maintenance;

/// How many past commands a pile keeps.
const KEEP: usize = 32;

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pending,
    Acknowledged,
    Refused,
    TimedOut,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Acknowledged => "acknowledged",
            Outcome::Refused => "refused",
            Outcome::TimedOut => "timed_out",
        }
    }
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize)]
pub struct CommandRecord {
    pub id: u64,
    pub command: Maintenance,
    pub outcome: Outcome,
    pub requested_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What the pile said, if anything.
    pub detail: Option<String>,
    /// What the pile answered, where the command asked it something
    /// (OCPP GetConfiguration's keys, GetLocalListVersion, DataTransfer).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<Object>))]
    pub answer: Option<serde_json::Value>,
}

#[derive(Default)]
pub struct CommandLog {
    next: u64,
    records: VecDeque<CommandRecord>,
}

impl CommandLog {
    /// The pending command of this kind, if one is waiting for its answer.
    pub fn pending(&self, kind: &str) -> Option<&CommandRecord> {
        self.records.iter().find(|r| r.outcome == Outcome::Pending && r.command.kind() == kind)
    }

    pub fn sent(&mut self, command: Maintenance, at: DateTime<Utc>) -> CommandRecord {
        self.next += 1;
        let record = CommandRecord {
            id: self.next,
            command,
            outcome: Outcome::Pending,
            requested_at: at,
            finished_at: None,
            detail: None,
            answer: None,
        };
        if self.records.len() == KEEP {
            self.records.pop_front();
        }
        self.records.push_back(record.clone());
        record
    }

    /// Ends the pending command of `kind` (or with `id`); returns it if there was one.
    pub fn finish(
        &mut self,
        which: Which,
        outcome: Outcome,
        detail: Option<String>,
        at: DateTime<Utc>,
    ) -> Option<&mut CommandRecord> {
        let r = self.records.iter_mut().find(|r| {
            r.outcome == Outcome::Pending
                && match which {
                    Which::Kind(kind) => r.command.kind() == kind,
                    Which::Id(id) => r.id == id,
                }
        })?;
        r.outcome = outcome;
        r.finished_at = Some(at);
        r.detail = detail.filter(|d| !d.is_empty());
        Some(r)
    }

    pub fn all(&self) -> Vec<CommandRecord> {
        self.records.iter().rev().cloned().collect()
    }
}

pub enum Which<'a> {
    Kind(&'a str),
    Id(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn a_command_is_pending_until_answered_or_timed_out() {
        let mut log = CommandLog::default();
        let reboot = log.sent(Maintenance::Reboot { when_idle: true }, at(1));
        let sync = log.sent(Maintenance::TimeSync, at(2));
        assert_eq!(log.pending("reboot").map(|r| r.id), Some(reboot.id));
        let done =
            log.finish(Which::Kind("time_sync"), Outcome::Acknowledged, Some("ok".into()), at(3)).unwrap();
        assert_eq!((done.id, done.outcome, done.finished_at), (sync.id, Outcome::Acknowledged, Some(at(3))));
        assert!(
            log.finish(Which::Kind("time_sync"), Outcome::Refused, None, at(4)).is_none(),
            "answered once"
        );
        log.finish(Which::Id(reboot.id), Outcome::TimedOut, None, at(5)).unwrap();
        assert_eq!(log.pending("reboot").map(|r| r.id), None);
        let all = log.all();
        assert_eq!(
            all.iter().map(|r| r.outcome).collect::<Vec<_>>(),
            vec![Outcome::Acknowledged, Outcome::TimedOut]
        );
    }

    #[test]
    fn only_the_recent_commands_are_kept() {
        let mut log = CommandLog::default();
        for i in 0..(KEEP as i64 + 5) {
            log.sent(Maintenance::TimeSync, at(i));
        }
        let all = log.all();
        assert_eq!(all.len(), KEEP);
        assert_eq!(all[0].id, KEEP as u64 + 5, "newest first");
    }
}
