//! The actix-web HTTP API, the console and app pages, and the `chargeplane`
//! binary that boots everything.
//!
//! [`config`] reads flags and the config file, [`server`] opens the store,
//! starts the pile gateway and the HTTP server, [`app`] is the route table
//! and [`routes`] holds one module per resource. Errors are JSON with a stable code ([`error`]).

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod export;
pub mod extract;
pub mod forward;
pub mod http_metrics;
pub mod idempotency;
pub mod login_codes;
pub mod money;
pub mod openapi;
pub mod passwords;
pub mod providers;
pub mod routes;
pub mod server;
pub mod settle;
pub mod signin;
pub mod simulate;
pub mod tenancy;
pub mod tokens;
pub mod web;

pub use config::ServeConfig;
