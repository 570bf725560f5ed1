//! tandem: a monitoring appliance in one binary.
//! See ARCHITECTURE.md for the map; `main.rs` is only the command line.

pub mod alert;
pub mod allocator;
pub mod collect;
pub mod config;
pub mod limits;
pub mod logging;
pub mod model;
pub mod peer;
pub mod promql;
pub mod reload;
pub mod remote;
pub mod selfmon;
pub mod serve;
pub mod slo;
pub mod storage;
pub mod tasks;
pub mod watchdog;
pub mod web;
