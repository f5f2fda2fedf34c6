//! The `chargeplane` command line. `chargeplane serve` runs the platform on
//! the embedded store with no configuration at all; a config file and flags
//! override the defaults. Kept in the library so the binary and the
//! end-to-end tests' copy of it run the same code.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::ServeConfig;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "chargeplane", version, about = "Operations cloud for EV and e-bike charging piles")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// `text` for people, `json` (one object a line) for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pile gateway and the HTTP API.
    Serve(ServeArgs),
    /// Create a platform admin: the first user, who logs in at
    /// POST /api/v1/auth/login and creates the others.
    CreateAdmin(CreateAdminArgs),
    /// Copy the embedded store into ScyllaDB (or another data directory),
    /// keeping every id; resumable, and safe to run again.
    Export(ExportArgs),
    /// Connect one simulated pile to a running platform (until stopped), to
    /// try charges with no hardware.
    SimulatePile(crate::simulate::Args),
}

/// Where the settings and the store are.
#[derive(clap::Args)]
struct StoreArgs {
    /// A TOML file of settings (keys as in ServeConfig); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory of the embedded database [default: data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// `sqlite` (embedded, the default) or scylla://host1:9042,host2/keyspace.
    #[arg(long)]
    store: Option<String>,
}

impl StoreArgs {
    fn config(self) -> Result<ServeConfig, String> {
        let mut cfg = match &self.config {
            Some(path) => ServeConfig::from_file(path).map_err(|e| format!("bad config: {e}"))?,
            None => ServeConfig::default(),
        };
        if let Some(v) = self.data_dir {
            cfg.data_dir = v;
        }
        if let Some(v) = self.store {
            cfg.store = v;
        }
        Ok(cfg)
    }
}

#[derive(clap::Args)]
struct CreateAdminArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[arg(long)]
    username: String,
    /// At least 10 characters; read from CHARGEPLANE_ADMIN_PASSWORD if not given.
    #[arg(long, env = "CHARGEPLANE_ADMIN_PASSWORD", hide_env_values = true)]
    password: String,
}

#[derive(clap::Args)]
struct ExportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// scylla://host1:9042,host2/keyspace, or sqlite:DIR for another data directory.
    #[arg(long)]
    to: String,
    /// Records read and written at a time.
    #[arg(long, default_value_t = 500)]
    page: usize,
    /// Start from the first table even if an earlier run saved a position.
    #[arg(long)]
    restart: bool,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address piles connect to [default: 0.0.0.0:8767].
    #[arg(long)]
    pile_listen: Option<SocketAddr>,
    /// Address OCPP 1.6J charge points connect to [default: 0.0.0.0:8768].
    #[arg(long)]
    ocpp_listen: Option<SocketAddr>,
    /// Address of the HTTP API [default: 0.0.0.0:8080].
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    /// Register unknown piles into this station instead of refusing them.
    #[arg(long)]
    auto_register_station: Option<i64>,
    /// Run on a simulated clock from this RFC 3339 instant.
    #[arg(long)]
    clock_start: Option<DateTime<Utc>>,
    /// Speed of the simulated clock relative to real time.
    #[arg(long)]
    clock_rate: Option<f64>,
    /// With several nodes on one store: where the others reach this node's
    /// HTTP API (http://10.0.0.5:8080).
    #[arg(long)]
    advertise_http: Option<String>,
    /// This node's name among them [default: the advertised address].
    #[arg(long)]
    node_id: Option<String>,
    /// The secret every node of the cluster shares (prefer the environment
    /// variable to the command line, which other users can read).
    #[arg(long, env = "CHARGEPLANE_CLUSTER_KEY", hide_env_values = true)]
    cluster_key: Option<String>,
    /// A demo on a fresh, throwaway data directory: an admin, stations,
    /// simulated car and e-bike piles, and a driver charging on them.
    #[arg(long)]
    demo: bool,
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        // Logs on stderr, so stdout carries only what a command prints;
        // colour only for a person at a terminal, never into a file or journal.
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let args = match cli.command {
        Command::Serve(args) => args,
        Command::CreateAdmin(args) => return create_admin(args),
        Command::Export(args) => return export(args),
        Command::SimulatePile(args) => return simulate(args),
    };
    let mut cfg = match args.store.config() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("chargeplane: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(v) = args.pile_listen {
        cfg.pile_listen = v;
    }
    if let Some(v) = args.ocpp_listen {
        cfg.ocpp_listen = v;
    }
    if let Some(v) = args.http_listen {
        cfg.http_listen = v;
    }
    if let Some(v) = args.auto_register_station {
        cfg.auto_register_station = Some(v);
    }
    if let Some(v) = args.clock_start {
        cfg.clock_start = Some(v);
    }
    if let Some(v) = args.clock_rate {
        cfg.clock_rate = v;
    }
    if let Some(v) = args.advertise_http {
        cfg.advertise_http = Some(v);
    }
    if let Some(v) = args.node_id {
        cfg.node_id = Some(v);
    }
    if let Some(v) = args.cluster_key {
        cfg.cluster_key = Some(v);
    }
    if args.demo {
        if let Err(e) = demo_config(&mut cfg) {
            eprintln!("chargeplane: {e}");
            return ExitCode::from(2);
        }
    }
    let result = actix_rt::System::new().block_on(async move {
        let running = crate::server::start(&cfg).await?;
        if args.demo {
            let admin = crate::demo::admin(running.platform.store.as_ref()).await?;
            println!(
                "chargeplane demo: http://{} (piles on {}): sign in as {} / {}\n  its data, removed when it stops: {}\n  for example: curl -s -X POST http://{}/api/v1/auth/login -H 'content-type: application/json' -d '{{\"username\": \"{}\", \"password\": \"{}\"}}'",
                running.http_addr, running.pile_addr, admin.username, admin.password,
                cfg.data_dir.display(), running.http_addr, admin.username, admin.password,
            );
            let target = crate::demo::Target {
                http: running.http_addr,
                piles: running.pile_addr,
                ocpp: running.ocpp_addr,
                store: running.platform.store.clone(),
            };
            actix_rt::spawn(crate::demo::run(target, admin));
        }
        wait_for_signal().await;
        tracing::info!("shutting down");
        running.stop().await;
        if args.demo {
            let _ = std::fs::remove_dir_all(&cfg.data_dir);
        }
        Ok::<_, std::io::Error>(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chargeplane: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The demo runs on the embedded store in a new directory, and turns on
/// the sandbox payment provider its driver tops up with.
fn demo_config(cfg: &mut ServeConfig) -> Result<(), String> {
    if cfg.store != "sqlite" {
        return Err("--demo runs on the embedded store; leave out --store".into());
    }
    let dir = std::env::temp_dir().join(format!("chargeplane-demo-{}", std::process::id()));
    if dir.exists() {
        return Err(format!("{} exists already; remove it for a fresh demo", dir.display()));
    }
    cfg.data_dir = dir;
    cfg.payments.sandbox = true;
    Ok(())
}

fn create_admin(args: CreateAdminArgs) -> ExitCode {
    let cfg = match args.store.config() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("chargeplane: {e}");
            return ExitCode::from(2);
        }
    };
    // Said aloud: without --data-dir the store is ./data, wherever that is.
    let place = match cfg.store.as_str() {
        "sqlite" => {
            std::path::absolute(cfg.database()).unwrap_or_else(|_| cfg.database()).display().to_string()
        }
        uri => uri.to_owned(),
    };
    let created = actix_rt::System::new().block_on(async move {
        let store = crate::server::open_store(&cfg).await.map_err(|e| e.to_string())?;
        let role = domain::accounts::Role::Admin;
        crate::auth::new_user(store.as_ref(), &args.username, &args.password, role, None, None)
            .await
            .map_err(|e| e.message)
    });
    match created {
        Ok(user) => {
            println!("admin {} created (user {}) in the store {place}", user.user.username, user.id);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chargeplane: {e}");
            ExitCode::FAILURE
        }
    }
}

fn export(args: ExportArgs) -> ExitCode {
    let cfg = match args.store.config() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("chargeplane: {e}");
            return ExitCode::from(2);
        }
    };
    // Held until the export ends: a running server would race it.
    let _lock = match crate::server::lock_data_dir(&cfg) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("chargeplane: export: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run = crate::export::run(&cfg, &args.to, args.page, args.restart);
    match actix_rt::System::new().block_on(run) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chargeplane: export: {e}");
            ExitCode::FAILURE
        }
    }
}

fn simulate(args: crate::simulate::Args) -> ExitCode {
    let run = async {
        let mut pile = crate::simulate::connect(&args).await?;
        eprintln!("chargeplane: pile {} connected to {}; Ctrl-C hangs up", args.id, args.piles);
        let stop = wait_for_signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                told = pile.next() => eprintln!("chargeplane: pile {}: {}", args.id, told?),
                _ = &mut stop => return Ok::<_, String>(()),
            }
        }
    };
    match actix_rt::System::new().block_on(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chargeplane: simulate-pile: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
