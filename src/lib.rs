//! tandem: a monitoring appliance in one binary.
//! See ARCHITECTURE.md for the map; `main.rs` is only the command line.

pub mod config;
pub mod limits;
pub mod logging;
pub mod reload;
pub mod selfmon;
pub mod serve;
pub mod web;
