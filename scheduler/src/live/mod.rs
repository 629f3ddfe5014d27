//! In-memory state that the services and the driver share, each piece with one job, a line
//! per module below.

/// The one problem cache: each problem's newest version, and per version its spec, files
/// and worst case.
pub mod catalog;
/// Live consoles' channels between a client's relay and its worker's `Attach`.
pub mod consoles;
/// Who leads: the lease's term and changes, for `/metrics`.
pub mod leadership;
/// Histograms and gauges `/metrics` reads.
pub mod metrics;
/// Job counts by kind, state and verdict, moved as the driver commits.
pub mod tally;
/// Verified tokens, refreshed from the store; revocations end what a token opened.
pub mod tokens;
/// Bounds on file transfers to workers, in all and per connection.
pub mod transfers;
/// The hub that fans committed job events out to watchers.
pub mod watch;
