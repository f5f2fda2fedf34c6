//! What every actor shares: configuration, storage, metrics and the registry
//! of live actors. One `Arc<Platform>` is handed to each actor at start.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use store::Store;

use crate::alarms::Notifier;
use crate::{metrics::Metrics, registry::Registry, Config};

pub struct Platform {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub metrics: Metrics,
    pub registry: Registry,
    pub notifier: Notifier,
    /// Port and charge updates for live pages.
    pub live: crate::live::Feed,
    /// Logins being authorized at once (each reads the store and may start
    /// actors); the rest wait in line.
    pub logins: tokio::sync::Semaphore,
}

impl Platform {
    pub fn new(config: Config, store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Platform {
            logins: tokio::sync::Semaphore::new(config.concurrent_logins.max(1)),
            notifier: Notifier::new(config.alarms.webhook.clone()),
            live: Default::default(),
            config,
            store,
            metrics: Metrics::new(),
            registry: Registry::default(),
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.config.clock.now()
    }
}
