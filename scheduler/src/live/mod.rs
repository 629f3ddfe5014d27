//! In-memory state that the services and the driver share, each piece with one job: the
//! problem catalog, the token cache, live consoles, the hub that fans committed job events
//! out to watchers, and the counters and histograms `/metrics` reads.

pub mod catalog;
pub mod consoles;
pub mod metrics;
pub mod tally;
pub mod tokens;
pub mod watch;
