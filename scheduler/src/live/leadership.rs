//! Who leads, as `/metrics` shows it: the lease's term, whether this scheduler leads, and
//! how many times this process has seen leadership change hands. Shared by the standby's
//! loop (which watches the lease) and the leader's server.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The leadership gauges; clones share them.
#[derive(Clone, Default, Debug)]
pub struct Leadership {
    term: Gauge,
    leading: Gauge,
    changes: Counter,
}

impl Leadership {
    /// The lease's term as last seen; a change counts as a change of leader.
    pub fn saw_term(&self, term: i64) {
        let before = self.term.set(term);
        if before != 0 && before != term {
            self.changes.inc();
        }
    }

    /// This scheduler took the lease in `term`.
    pub fn lead(&self, term: i64) {
        self.saw_term(term);
        self.leading.set(1);
    }

    pub fn term(&self) -> i64 {
        self.term.get()
    }

    /// Registers the three series (prefixed by the registry's `judge_`).
    pub fn register(&self, reg: &mut Registry) {
        reg.register(
            "leader_term",
            "The leader's lease term as this scheduler last saw it (0 on SQLite)",
            self.term.clone(),
        );
        reg.register(
            "leading",
            "1 if this scheduler leads, 0 if it is a standby",
            self.leading.clone(),
        );
        reg.register(
            "leadership_changes",
            "Times this process saw the lease's term change",
            self.changes.clone(),
        );
    }
}
