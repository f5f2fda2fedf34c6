//! The end-to-end suite: real sockets, real frames, a real database file and,
//! where a crash is the point, the real server process. One test binary, not
//! one per file, so CI links the whole workspace once instead of ten times.

mod common;

mod alarms;
mod auth;
mod cards;
mod cluster;
mod cluster_live;
mod console;
mod demo;
mod ebike;
mod edges;
mod fuzz;
mod live;
mod logs;
mod maintenance;
mod money;
mod ocpp;
mod ocpp_schemas;
mod openapi;
mod package;
mod payments;
mod power;
mod prometheus;
mod qr;
mod readme;
mod recovery;
mod reliability;
mod reports;
mod resources;
mod sessions_list;
mod signin;
mod skeleton;
mod storage_faults;
mod tenants;
mod ykc;
