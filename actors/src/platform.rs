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
    /// Station messages to other nodes (`owner`).
    pub channel: crate::owner::Channel,
    /// Station lease reads, grouped (with several nodes).
    pub lease_reads: crate::station::LeaseReads,
}

impl Platform {
    pub fn new(config: Config, store: Arc<dyn Store>) -> Arc<Self> {
        let metrics = Metrics::new();
        let timeout = config.directory.as_ref().map_or(std::time::Duration::from_secs(1), |n| n.lease_ttl);
        let channel = crate::owner::Channel::new(&metrics.registry, timeout);
        Arc::new(Platform {
            channel,
            lease_reads: crate::station::LeaseReads::new(store.clone()),
            logins: tokio::sync::Semaphore::new(config.concurrent_logins.max(1)),
            notifier: Notifier::new(config.alarms.webhook.clone()),
            live: Default::default(),
            config,
            store,
            metrics,
            registry: Registry::default(),
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.config.clock.now()
    }
}
