//! What workers of the cluster have offered (languages, job types), so that `Submit` refuses
//! a submission no worker would ever take, while one that waits for a worker to come back is
//! still accepted. Remembered in the store across restarts.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use super::AppError;

/// Ids of one kind of offer (e.g. languages) some worker of the cluster has ever made.
#[derive(Debug, Clone)]
pub struct Offered {
    /// What the ids are, for messages: "language", "job type".
    what: &'static str,
    ids: Arc<RwLock<BTreeSet<String>>>,
}

impl Offered {
    /// The ids offered so far (remembered in the store), as `what` for messages.
    pub fn new(what: &'static str, ids: impl IntoIterator<Item = String>) -> Self {
        Offered {
            what,
            ids: Arc::new(RwLock::new(ids.into_iter().collect())),
        }
    }

    /// A worker offers these.
    pub fn offered(&self, ids: impl IntoIterator<Item = String>) {
        self.ids
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .extend(ids);
    }

    /// `INVALID_ARGUMENT` naming `id` and what is known, unless some worker offered it.
    pub fn check(&self, id: &str) -> Result<(), AppError> {
        let known = self.ids.read().unwrap_or_else(|p| p.into_inner());
        if known.contains(id) {
            return Ok(());
        }
        let list: Vec<&str> = known.iter().map(String::as_str).collect();
        let known = if list.is_empty() {
            "none yet (no worker has connected)".to_string()
        } else {
            list.join(", ")
        };
        Err(AppError::Invalid(format!(
            "no worker of this cluster has offered {} {id:?}; known: {known}",
            self.what
        )))
    }
}
