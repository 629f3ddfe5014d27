//! The judge scheduler as a library: the scheduling core and the adapters around it.
//! The binary (`main.rs`) only wires these together.

pub mod blobs;
pub mod catalog;
pub mod config;
pub mod consoles;
pub mod core;
pub mod driver;
pub mod gc;
pub mod http;
pub mod metrics;
pub mod private;
pub mod program_check;
pub mod recovery;
pub mod server;
pub mod service;
pub mod store;
pub mod tally;
pub mod tls;
pub mod tokens;
pub mod watch;
