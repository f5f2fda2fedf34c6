//! Boots chargeplane: opens the embedded store under the data directory
//! (created on first start), starts the pile gateway and the HTTP API, and
//! stops them in order.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use actors::{gateway, pile, session, station, Platform};
use futures::future::join_all;
use store::{ScyllaConfig, ScyllaStore, SqliteConfig, SqliteStore, Store};

use crate::http_metrics::{self, HttpMetrics};
use crate::{routes, ServeConfig};

/// A running server.
pub struct Running {
    pub pile_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// Where OCPP charge points connect.
    pub ocpp_addr: SocketAddr,
    pub platform: Arc<Platform>,
    http: actix_web::dev::ServerHandle,
    gateway: tokio::task::JoinHandle<()>,
    ocpp: tokio::task::JoinHandle<()>,
    settlement: tokio::task::JoinHandle<()>,
    /// Keeps this node on the cluster's node list, with several nodes.
    announce: Option<tokio::task::JoinHandle<()>>,
    /// The data directory's lock, released when the server is dropped.
    _lock: Option<std::fs::File>,
}

impl Running {
    /// Stops in the order that loses nothing: no new piles or requests,
    /// every session's buffered samples and state made durable, then pile
    /// connections closed so piles reconnect (to another node, if any).
    pub async fn stop(self) {
        self.gateway.abort();
        self.ocpp.abort();
        self.settlement.abort();
        if let (Some(announce), Some(node)) = (self.announce, &self.platform.config.directory) {
            // Off the list first: the other nodes let go of its event
            // stream instead of seeing it fail and asking again.
            announce.abort();
            if let Err(e) = self.platform.store.withdraw_node(&node.node_id).await {
                tracing::warn!(error = %e, "could not take this node off the cluster's list");
            }
        }
        // Event streams end now: they would hold the graceful stop.
        self.platform.live.close();
        self.http.stop(true).await;
        let registry = &self.platform.registry;
        let sessions: Vec<_> = registry.sessions.iter().map(|e| e.value().clone()).collect();
        join_all(sessions.iter().map(|s| s.send(session::Flush))).await;
        // Stations this node manages go to another node now, not once their
        // leases lapse (which bounds the wait).
        if let Some(node) = &self.platform.config.directory {
            let stations: Vec<_> = registry.stations.iter().map(|e| e.value().clone()).collect();
            let handed = join_all(stations.iter().map(|s| s.send(station::HandOver)));
            let _ = tokio::time::timeout(node.lease_ttl, handed).await;
        }
        let piles: Vec<_> = registry.piles.iter().map(|e| e.value().clone()).collect();
        join_all(piles.iter().map(|p| p.send(pile::Disconnect("shutdown")))).await;
        tracing::info!(
            sessions = sessions.len(),
            piles = piles.len(),
            "stopped: sessions flushed, piles disconnected"
        );
    }
}

/// The configured store: the embedded SQLite file, or a ScyllaDB cluster.
pub async fn open_store(cfg: &ServeConfig) -> std::io::Result<Arc<dyn Store>> {
    if cfg.store.starts_with("scylla://") {
        let scylla = ScyllaConfig::from_uri(&cfg.store).map_err(std::io::Error::other)?;
        let store = ScyllaStore::connect(scylla).await.map_err(std::io::Error::other)?;
        return Ok(Arc::new(store));
    }
    if cfg.store != "sqlite" {
        let why = format!("store {:?}: use \"sqlite\" or scylla://host[:port],.../keyspace", cfg.store);
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
    }
    std::fs::create_dir_all(&cfg.data_dir)?;
    let mut store_cfg = SqliteConfig::new(cfg.database());
    store_cfg.batch_window = std::time::Duration::from_millis(cfg.store_batch_window_ms);
    store_cfg.synchronous_full = cfg.store_fsync;
    Ok(Arc::new(SqliteStore::open(store_cfg).map_err(std::io::Error::other)?))
}

/// Locks the embedded store's data directory for this process's life, so
/// a second server (or an export) on it is refused instead of splitting
/// live state. Cluster nodes (`advertise_http`) and ScyllaDB share a store
/// knowingly: no lock.
pub fn lock_data_dir(cfg: &ServeConfig) -> std::io::Result<Option<std::fs::File>> {
    if cfg.store != "sqlite" || cfg.advertise_http.is_some() {
        return Ok(None);
    }
    let path = std::path::absolute(cfg.data_dir.join("chargeplane.lock"))?;
    let named = |e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("data directory {}: {e}", cfg.data_dir.display()))
    };
    std::fs::create_dir_all(&cfg.data_dir).map_err(named)?;
    let file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(named)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!(
                "another chargeplane is using the data directory {} (it holds {}); stop it first",
                path.parent().unwrap_or(&path).display(),
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Starts everything on the current actix system.
pub async fn start(cfg: &ServeConfig) -> std::io::Result<Running> {
    cfg.check().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let lock = lock_data_dir(cfg)?;
    let platform = Platform::new(cfg.actors(), open_store(cfg).await?);
    crate::passwords::limit(cfg.password_hash_concurrency);

    let piles = actors::listener::bind(cfg.pile_listen, cfg.pile_backlog)?;
    if let Some(max) = actors::listener::somaxconn().filter(|max| *max < cfg.pile_backlog) {
        tracing::warn!(
            pile_backlog = cfg.pile_backlog,
            somaxconn = max,
            "the kernel caps the pile listener's queue below pile_backlog; raise net.core.somaxconn for reconnect storms"
        );
    }
    let pile_addr = piles.local_addr()?;
    let gateway = actix_rt::spawn(gateway::serve(piles, platform.clone()));
    let ocpp_listener = actors::listener::bind(cfg.ocpp_listen, cfg.pile_backlog).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen for OCPP charge points on {}: {e}", cfg.ocpp_listen),
        )
    })?;
    let ocpp_addr = ocpp_listener.local_addr()?;
    let ocpp = actix_rt::spawn(actors::ocpp_listener::serve(ocpp_listener, platform.clone()));
    let settlement = actix_rt::spawn(crate::settle::daily(
        platform.clone(),
        cfg.settlement_utc_offset_minutes,
        std::time::Duration::from_millis(cfg.settlement_check_ms.max(1)),
        std::time::Duration::from_millis(cfg.settlement_delay_ms),
    ));

    let announce = cfg.advertise_http.is_some().then(|| {
        let every = std::time::Duration::from_millis(cfg.station_reconcile_ms.max(1));
        actix_rt::spawn(actors::registry::reconcile_stations(platform.clone(), every));
        actix_rt::spawn(actors::directory::announce(platform.clone()))
    });
    let trim_every = std::time::Duration::from_millis(cfg.memory_trim_check_ms.max(1));
    actix_rt::spawn(actors::memory::trim_after_passivations(platform.clone(), trim_every));

    let http_metrics = web::Data::new(HttpMetrics::register(&platform.metrics.registry));
    let p = platform.clone();
    let in_flight = web::Data::new(crate::idempotency::InFlight::default());
    // Bound before the routes are built: QR codes need the address.
    let named = |e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("cannot serve HTTP on {}: {e}", cfg.http_listen))
    };
    let http_listener = std::net::TcpListener::bind(cfg.http_listen).map_err(named)?;
    let http_addr = http_listener.local_addr()?;
    let mut money_config = cfg.money();
    money_config.public_url = public_url(cfg.public_url.as_deref(), http_addr);
    let money = web::Data::new(crate::money::Money::new(money_config, &platform.metrics.registry));
    let timeout = std::time::Duration::from_millis(cfg.forward_timeout_ms);
    let forwarder =
        web::Data::new(crate::forward::Forwarder::new(cfg.node_id(), timeout, &platform.metrics.registry));
    // Other nodes' event streams: connecting waits as long as a forwarded
    // command; a stream silent for three keep-alives is taken for dead.
    let cluster_events = web::Data::new(routes::cluster_events::ClusterEvents::new(
        timeout,
        3 * platform.config.live_keepalive,
        std::time::Duration::from_millis(cfg.pile_node_refresh_ms.max(1)),
        &platform.metrics.registry,
    ));
    let stations = platform.store.stations().await.map_err(std::io::Error::other)?;
    let geo = web::Data::new(std::sync::RwLock::new(routes::stations::geo_index(&stations)));
    let tiles = crate::web::map::Tiles::parse(cfg.map_tiles_url.as_deref())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let tiles = web::Data::new(tiles);
    let mut http = HttpServer::new(move || {
        App::new()
            .app_data(http_metrics.clone())
            .app_data(tiles.clone())
            .app_data(forwarder.clone())
            .app_data(cluster_events.clone())
            .wrap(from_fn(http_metrics::observe))
            .wrap(ErrorHandlers::new().default_handler(crate::extract::json_errors))
            .configure(crate::app::configure(p.clone(), in_flight.clone(), money.clone(), geo.clone()))
            // The console's and the app's pages: not API, not in /openapi.json.
            .configure(crate::web::routes)
    })
    .disable_signals();
    if cfg.http_workers > 0 {
        http = http.workers(cfg.http_workers);
    }
    let server = http.listen(http_listener)?.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(%pile_addr, %ocpp_addr, %http_addr, data = %cfg.data_dir.display(), "chargeplane is up");
    Ok(Running {
        pile_addr,
        http_addr,
        ocpp_addr,
        platform,
        http: handle,
        gateway,
        ocpp,
        settlement,
        announce,
        _lock: lock,
    })
}

/// Where ports' QR codes send phones: the configured URL, or the HTTP
/// listener's address (this machine's host name when it listens on every
/// address). Warns when phones could not reach it.
fn public_url(configured: Option<&str>, http: SocketAddr) -> String {
    let url = match configured {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = match http.ip() {
                ip if ip.is_unspecified() => std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_owned())
                    .ok()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "localhost".into()),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            format!("http://{host}:{}/api/v1", http.port())
        }
    };
    if unreachable_from_a_phone(&url) {
        tracing::warn!(public_url = %url, "ports' QR codes point at this machine's loopback, which phones cannot reach; set public_url");
    }
    url
}

fn unreachable_from_a_phone(url: &str) -> bool {
    let authority = url.split("://").nth(1).unwrap_or(url).split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

/// A server on its own thread and actix system, for tests and in-process
/// load tests. Dropping the handle does not stop it; `stop` does.
pub struct Background {
    pub pile_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub ocpp_addr: SocketAddr,
    pub platform: Arc<Platform>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    pub fn spawn(cfg: ServeConfig) -> std::io::Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                match start(&cfg).await {
                    Ok(running) => {
                        let _ = ready_tx.send(Ok((
                            running.pile_addr,
                            running.http_addr,
                            running.ocpp_addr,
                            running.platform.clone(),
                        )));
                        let _ = stop_rx.await;
                        running.stop().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        });
        let (pile_addr, http_addr, ocpp_addr, platform) =
            ready_rx.recv().map_err(std::io::Error::other)??;
        Ok(Background {
            pile_addr,
            http_addr,
            ocpp_addr,
            platform,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_is_where_the_listener_is_reached_and_loopback_is_flagged() {
        assert_eq!(public_url(None, "10.1.2.3:8080".parse().unwrap()), "http://10.1.2.3:8080/api/v1");
        assert_eq!(
            public_url(Some("https://cp.example/api/v1/"), "0.0.0.0:80".parse().unwrap()),
            "https://cp.example/api/v1"
        );
        let any = public_url(None, "0.0.0.0:8080".parse().unwrap());
        assert!(
            any.starts_with("http://") && any.ends_with(":8080/api/v1") && !any.contains("0.0.0.0"),
            "{any}"
        );
        for url in [
            "http://127.0.0.1:8080/api/v1",
            "http://localhost/api/v1",
            "http://[::1]:80/x",
            "http://0.0.0.0:1",
        ] {
            assert!(unreachable_from_a_phone(url), "{url}");
        }
        for url in ["https://cp.example/api/v1", "http://10.1.2.3:8080/api/v1", "http://[2001:db8::1]:80/x"] {
            assert!(!unreachable_from_a_phone(url), "{url}");
        }
    }
}
