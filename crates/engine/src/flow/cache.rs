//! `api.cache`: where a trigger's cache lives between executions.

use std::collections::BTreeMap;

use gatehouse_types::Trigger;

use crate::protocol::{CacheOp, CacheRecord};

/// Where the trigger's `api.cache` lives between executions.
pub trait CacheStore: Send + Sync {
    /// The cache as an execution starts.
    fn load(&self, trigger: Trigger) -> BTreeMap<String, CacheRecord>;
    /// Applies an execution's changes.
    fn apply(&self, trigger: Trigger, ops: &[CacheOp]);
}

/// A process-local cache (what Auth0 documents: reliable within one execution only).
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: std::sync::Mutex<BTreeMap<Trigger, BTreeMap<String, CacheRecord>>>,
}

impl CacheStore for MemoryCache {
    fn load(&self, trigger: Trigger) -> BTreeMap<String, CacheRecord> {
        self.entries.lock().map(|e| e.get(&trigger).cloned().unwrap_or_default()).unwrap_or_default()
    }

    fn apply(&self, trigger: Trigger, ops: &[CacheOp]) {
        if let Ok(mut entries) = self.entries.lock() {
            let cache = entries.entry(trigger).or_default();
            for op in ops {
                match op {
                    CacheOp::Set { key, record } => {
                        cache.insert(key.clone(), record.clone());
                    }
                    CacheOp::Delete { key } => {
                        cache.remove(key);
                    }
                }
            }
        }
    }
}
