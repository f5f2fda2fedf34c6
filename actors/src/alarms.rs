//! Raising and clearing alarms, and telling people about them.
//!
//! An alarm is stored first (it must outlive a crash), counted, then sent
//! to the notification sink: the log always, and a webhook when one is
//! configured. A webhook that fails is counted and logged, never retried
//! forever or allowed to hold up the actor that raised the alarm.

use std::collections::HashMap;
use std::time::Duration;

use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use domain::alarm::{Alarm, AlarmId, NewAlarm};
use vocab::{PileId, PortNo};

use crate::Platform;

/// Where alarms go besides storage.
pub struct Notifier {
    webhook: Option<(reqwest::Client, String)>,
}

impl Notifier {
    pub fn new(webhook: Option<String>) -> Self {
        let client = || reqwest::Client::builder().timeout(Duration::from_secs(5)).build().ok();
        Notifier { webhook: webhook.and_then(|url| Some((client()?, url))) }
    }

    fn notify(&self, platform: &Platform, alarm: &Alarm) {
        let a = &alarm.alarm;
        tracing::warn!(
            alarm = alarm.id, kind = %a.kind, severity = a.severity.as_str(), pile = ?a.pile_id.as_ref().map(|p| p.as_str()),
            port = ?a.port.map(|p| p.0), station = a.station_id, "{}", a.message
        );
        let Some((client, url)) = &self.webhook else { return };
        let post = client.post(url).json(alarm).send();
        let failed = platform.metrics.alarm_notifications_failed.clone();
        let id = alarm.id;
        actix_rt::spawn(async move {
            match post.await.and_then(|r| r.error_for_status()) {
                Ok(_) => {}
                Err(e) => {
                    failed.inc();
                    tracing::error!(alarm = id, error = %e, "alarm webhook failed");
                }
            }
        });
    }
}

/// A stable alarm kind from a fault's text: `cabinet over-temperature`
/// becomes `cabinet_over_temperature`.
pub fn kind(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

/// Stores, counts and sends an alarm; its id, or `None` if it could not be stored.
pub async fn raise(platform: &Platform, alarm: NewAlarm) -> Option<AlarmId> {
    match platform.store.raise_alarm(&alarm).await {
        Ok(stored) => {
            let m = &platform.metrics;
            m.alarms.with_label_values(&[&stored.alarm.kind, stored.alarm.severity.as_str()]).inc();
            platform.notifier.notify(platform, &stored);
            Some(stored.id)
        }
        Err(e) => {
            tracing::error!(error = %e, kind = %alarm.kind, pile = ?alarm.pile_id, "could not store an alarm");
            None
        }
    }
}

/// Marks an alarm's condition over.
pub async fn clear(platform: &Platform, id: AlarmId, at: DateTime<Utc>) {
    if let Err(e) = platform.store.clear_alarm(id, at).await {
        tracing::error!(alarm = id, error = %e, "could not clear an alarm");
    }
}

/// Raises and clears alarms from inside an actor that keeps its `Active`
/// set at `active`: raising happens off the actor, and the stored id comes
/// back to it.
pub fn apply<A>(
    actor: &A,
    ctx: &mut Context<A>,
    platform: &Arc<Platform>,
    (raise, clear): (Vec<NewAlarm>, Vec<AlarmId>),
    active: fn(&mut A) -> &mut Active,
) where
    A: Actor<Context = Context<A>>,
{
    for id in clear {
        let (p, at) = (platform.clone(), platform.now());
        actix_rt::spawn(async move { self::clear(&p, id, at).await });
    }
    for alarm in raise {
        let (p, copy) = (platform.clone(), alarm.clone());
        let raised = async move { self::raise(&p, copy).await };
        let p = platform.clone();
        ctx.spawn(raised.into_actor(actor).map(move |id, actor, _| {
            if let Some(stale) = id.and_then(|id| active(actor).stored(&alarm, id)) {
                let at = p.now();
                actix_rt::spawn(async move { self::clear(&p, stale, at).await });
            }
        }));
    }
}

/// The alarms an actor has raised for conditions still present, by kind:
/// a condition that persists over many reports raises one alarm, and its
/// alarm is cleared when it goes. `None` while the alarm is being stored.
#[derive(Default)]
pub struct Active(HashMap<Key, Option<AlarmId>>);

/// One condition: its kind, at a pile and port (or the whole pile or station).
type Key = (String, Option<PileId>, Option<PortNo>);

fn key(a: &NewAlarm) -> Key {
    (a.kind.clone(), a.pile_id.clone(), a.port)
}

impl Active {
    /// The conditions a report found, among the kinds `in_scope` (what the
    /// report speaks about). Returns the alarms to raise and the ids to clear.
    pub fn update(
        &mut self,
        in_scope: impl Fn(&str) -> bool,
        now: Vec<NewAlarm>,
    ) -> (Vec<NewAlarm>, Vec<AlarmId>) {
        let gone: Vec<Key> =
            self.0.keys().filter(|k| in_scope(&k.0) && !now.iter().any(|a| key(a) == **k)).cloned().collect();
        let clear = gone.into_iter().filter_map(|k| self.0.remove(&k).flatten()).collect();
        let raise: Vec<NewAlarm> = now.into_iter().filter(|a| !self.0.contains_key(&key(a))).collect();
        for a in &raise {
            self.0.insert(key(a), None);
        }
        (raise, clear)
    }

    /// An alarm still open in the store, from before this actor started
    /// (a restart, or a pile back after its actors were passivated): its
    /// condition is cleared like any other when a report says it is gone.
    pub fn open(&mut self, alarm: &Alarm) {
        let a = &alarm.alarm;
        self.0.entry((a.kind.clone(), a.pile_id.clone(), a.port)).or_insert(Some(alarm.id));
    }

    /// Whether an alarm is still being stored (its id not back yet).
    pub fn storing(&self) -> bool {
        self.0.values().any(Option::is_none)
    }

    /// The stored id of an alarm raised for `alarm`'s condition; returns it
    /// back if the condition went away meanwhile, to be cleared.
    pub fn stored(&mut self, alarm: &NewAlarm, id: AlarmId) -> Option<AlarmId> {
        match self.0.get_mut(&key(alarm)) {
            Some(slot) => {
                *slot = Some(id);
                None
            }
            None => Some(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vocab::Severity;

    fn alarm(kind: &str) -> NewAlarm {
        NewAlarm {
            station_id: 1,
            pile_id: Some(PileId::from("p")),
            port: None,
            kind: kind.into(),
            severity: Severity::Major,
            message: String::new(),
            raised_at: DateTime::from_timestamp(0, 0).unwrap(),
        }
    }

    #[test]
    fn a_persisting_condition_raises_once_and_clears_when_gone() {
        let mut active = Active::default();
        let all = |_: &str| true;
        let (raise, clear) = active.update(all, vec![alarm("insulation_fault")]);
        assert_eq!((raise.len(), clear.len()), (1, 0));
        assert_eq!(active.stored(&alarm("insulation_fault"), 7), None);
        let (raise, clear) = active.update(all, vec![alarm("insulation_fault")]);
        assert_eq!((raise.len(), clear.len()), (0, 0), "still on: nothing new");
        let (raise, clear) = active.update(all, vec![]);
        assert_eq!((raise.len(), clear), (0, vec![7]));
    }

    #[test]
    fn a_report_clears_only_what_it_speaks_about() {
        let mut active = Active::default();
        active.update(|_| true, vec![alarm("over_temperature"), alarm("meter_fault")]);
        active.stored(&alarm("over_temperature"), 1);
        active.stored(&alarm("meter_fault"), 2);
        let (_, clear) = active.update(|k| k != "over_temperature", vec![]);
        assert_eq!(clear, vec![2]);
    }

    #[test]
    fn an_alarm_whose_condition_ended_while_it_was_stored_is_cleared() {
        let mut active = Active::default();
        active.update(|_| true, vec![alarm("offline")]);
        active.update(|_| true, vec![]);
        assert_eq!(active.stored(&alarm("offline"), 9), Some(9));
    }

    #[test]
    fn kinds_are_snake_case() {
        assert_eq!(super::kind("cabinet over-temperature"), "cabinet_over_temperature");
        assert_eq!(super::kind("abnormal: gun unplugged"), "abnormal_gun_unplugged");
        assert_eq!(super::kind("smoke"), "smoke");
    }
}
