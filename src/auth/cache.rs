//! Callers seen recently, kept in memory so a request with a known key or token does not wait on the database.
//!
//! Safe because every change that can narrow a caller (a key revoked, expired early or given fewer roles; an app
//! changed or removed) fires a Postgres notice that empties this cache on every replica within milliseconds. While
//! this process is not listening for notices (at start, or after its listening connection dropped) nothing is
//! served from memory, so a missed notice cannot keep a revoked key alive. Entries also expire after a minute.
//! Unknown keys and tokens are never cached: each refusal is looked up again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::db::apps::App;
use crate::db::keys::StoredKey;

/// Beyond this an entry is looked up again even if no notice came.
const MAX_AGE: Duration = Duration::from_secs(60);
/// A key's last use is written at most this often (per process).
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Entries per map; a full map is emptied (cheaper than tracking recency, and rare: it takes that many live callers).
const CAPACITY: usize = 10_000;

/// Who an Entra token speaks for: tenant, mailgate's home tenant, app id, service principal object id.
pub type EntraKey = (Uuid, Option<Uuid>, Uuid, Option<Uuid>);

struct Entry<T> {
    generation: u64,
    fetched: Instant,
    value: Arc<T>,
}

struct Map<K, T>(Mutex<HashMap<K, Entry<T>>>);

impl<K: Eq + Hash, T> Map<K, T> {
    fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }

    fn get(&self, key: &K, generation: u64) -> Option<Arc<T>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).filter(|e| e.generation == generation && e.fetched.elapsed() < MAX_AGE).map(|e| e.value.clone())
    }

    fn put(&self, key: K, generation: u64, value: Arc<T>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(key, Entry { generation, fetched: Instant::now(), value });
    }
}

pub struct CallerCache {
    generation: AtomicU64,
    listening: AtomicBool,
    keys: Map<String, StoredKey>,
    apps: Map<EntraKey, App>,
    touched: Mutex<HashMap<Uuid, Instant>>,
}

impl Default for CallerCache {
    fn default() -> Self {
        Self {
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            keys: Map::new(),
            apps: Map::new(),
            touched: Mutex::new(HashMap::new()),
        }
    }
}

impl CallerCache {
    /// Forgets every entry: on a change notice, and whenever notices may have been missed.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether change notices are being received; entries are served only while they are.
    pub fn set_listening(&self, listening: bool) {
        self.invalidate();
        self.listening.store(listening, Ordering::SeqCst);
    }

    /// The generation to store a lookup under: read before the lookup, so a change during it leaves it stale.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn usable(&self) -> Option<u64> {
        self.listening.load(Ordering::SeqCst).then(|| self.generation())
    }

    pub fn key(&self, prefix: &str) -> Option<Arc<StoredKey>> {
        self.keys.get(&prefix.to_owned(), self.usable()?)
    }

    pub fn put_key(&self, generation: u64, stored: Arc<StoredKey>) {
        self.keys.put(stored.prefix.clone(), generation, stored);
    }

    pub fn app(&self, key: &EntraKey) -> Option<Arc<App>> {
        self.apps.get(key, self.usable()?)
    }

    pub fn put_app(&self, key: EntraKey, generation: u64, app: Arc<App>) {
        self.apps.put(key, generation, app);
    }

    /// Whether this key's use is worth recording now (not recorded by this process within the last minute).
    pub fn should_touch(&self, key_id: Uuid) -> bool {
        let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        if touched.len() >= CAPACITY {
            touched.clear();
        }
        match touched.get(&key_id) {
            Some(at) if at.elapsed() < TOUCH_EVERY => false,
            _ => {
                touched.insert(key_id, Instant::now());
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(prefix: &str) -> Arc<StoredKey> {
        Arc::new(StoredKey {
            id: Uuid::from_u128(7),
            app_id: Uuid::from_u128(8),
            app_name: "app".into(),
            prefix: prefix.into(),
            secret_hash: vec![1, 2, 3],
            app_roles: vec!["Mail.Send".into()],
            key_roles: None,
            expires_at: None,
            messages_per_minute: None,
            recipients_per_day: None,
        })
    }

    #[test]
    fn nothing_is_served_while_notices_are_not_received() {
        let cache = CallerCache::default();
        cache.put_key(cache.generation(), stored("abc"));
        assert!(cache.key("abc").is_none(), "served before the listener started");
        cache.set_listening(true);
        cache.put_key(cache.generation(), stored("abc"));
        assert!(cache.key("abc").is_some());
        cache.set_listening(false);
        assert!(cache.key("abc").is_none(), "served after the listener stopped");
    }

    #[test]
    fn a_change_notice_forgets_entries_and_a_lookup_racing_it_is_not_kept() {
        let cache = CallerCache::default();
        cache.set_listening(true);
        let before = cache.generation();
        cache.put_key(before, stored("abc"));
        cache.invalidate();
        assert!(cache.key("abc").is_none());
        // A lookup that began before a notice and finished after it.
        cache.put_key(before, stored("abc"));
        assert!(cache.key("abc").is_none());
    }

    #[test]
    fn use_is_recorded_at_most_once_a_minute() {
        let cache = CallerCache::default();
        let id = Uuid::from_u128(1);
        assert!(cache.should_touch(id));
        assert!(!cache.should_touch(id));
        assert!(cache.should_touch(Uuid::from_u128(2)));
    }
}
