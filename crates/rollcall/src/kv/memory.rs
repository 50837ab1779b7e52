//! In-process [`KeyValue`]: for a single instance (state is lost on restart).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{KeyValue, KvError};

/// Every this many writes, expired entries are swept out, so keys that are never read
/// again cannot pile up.
const SWEEP_EVERY: u32 = 1024;

/// A `Mutex<HashMap>` with an expiry instant per entry. Expired entries are invisible,
/// removed when touched and, every 1024 writes, all at once.
#[derive(Debug, Default)]
pub struct MemoryKv {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    writes_since_sweep: u32,
}

#[derive(Debug)]
struct Entry {
    value: String,
    expires_at: Instant,
}

impl State {
    /// The live entry for `key`, removing it if it has expired.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| e.expires_at <= now) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn insert(&mut self, key: &str, value: String, expires_at: Instant, now: Instant) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= SWEEP_EVERY {
            self.writes_since_sweep = 0;
            self.entries.retain(|_, e| e.expires_at > now);
        }
        self.entries
            .insert(key.to_owned(), Entry { value, expires_at });
    }
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries held, expired ones not yet purged included.
    pub fn len_including_expired(&self) -> usize {
        self.lock().entries.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No critical section can leave the map inconsistent, so a poisoned lock is safe
        // to keep using.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `now + ttl`, saturating far in the future instead of overflowing.
fn expiry(now: Instant, ttl: Duration) -> Instant {
    now.checked_add(ttl)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

#[async_trait]
impl KeyValue for MemoryKv {
    async fn ping(&self) -> Result<(), KvError> {
        Ok(())
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), KvError> {
        let now = Instant::now();
        self.lock()
            .insert(key, value.to_owned(), expiry(now, ttl), now);
        Ok(())
    }

    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, KvError> {
        let now = Instant::now();
        let mut state = self.lock();
        if state.live(key, now).is_some() {
            return Ok(false);
        }
        state.insert(key, value.to_owned(), expiry(now, ttl), now);
        Ok(true)
    }

    async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        let now = Instant::now();
        Ok(self.lock().live(key, now).map(|e| e.value.clone()))
    }

    async fn take(&self, key: &str) -> Result<Option<String>, KvError> {
        let now = Instant::now();
        let mut state = self.lock();
        state.live(key, now);
        Ok(state.entries.remove(key).map(|e| e.value))
    }

    async fn delete(&self, key: &str) -> Result<bool, KvError> {
        let now = Instant::now();
        let mut state = self.lock();
        state.live(key, now);
        Ok(state.entries.remove(key).is_some())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, KvError> {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(entry) = state.live(key, now) {
            let current: i64 = entry
                .value
                .parse()
                .map_err(|_| KvError::Internal(format!("value of {key:?} is not an integer")))?;
            let next = current
                .checked_add(1)
                .ok_or_else(|| KvError::Internal(format!("counter {key:?} overflowed")))?;
            entry.value = next.to_string();
            return Ok(next);
        }
        state.insert(key, "1".to_owned(), expiry(now, ttl), now);
        Ok(1)
    }

    async fn decr(&self, key: &str) -> Result<i64, KvError> {
        let now = Instant::now();
        let mut state = self.lock();
        let Some(entry) = state.live(key, now) else {
            return Ok(0);
        };
        let current: i64 = entry
            .value
            .parse()
            .map_err(|_| KvError::Internal(format!("value of {key:?} is not an integer")))?;
        let next = (current - 1).max(0);
        entry.value = next.to_string();
        Ok(next)
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>, KvError> {
        let now = Instant::now();
        Ok(self
            .lock()
            .live(key, now)
            .map(|e| e.expires_at.saturating_duration_since(now)))
    }
}
