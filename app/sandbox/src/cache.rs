//! The store of Django's local-memory cache (`LocMemCache`), on the sandbox's virtual clock,
//! for any value type (`django::caches` stores Python values in it), and what the cache panel
//! reads from a request's cache calls.
//!
//! Behaviour follows `django/core/cache/backends/locmem.py` and `base.py`: keys are made as
//! `KEY_PREFIX:VERSION:key` (`:1:key`), entries expire when `expiry <= now` (so a 60 s entry is
//! gone at exactly 60 s), `timeout=None` keeps forever and `0` expires at once, the least
//! recently used third is culled past `MAX_ENTRIES` (300), and values are copied in and out
//! (Django pickles them), so mutating a cached list later does not change the cache.
//! Every call is recorded for the cache panel.

use indexmap::IndexMap;


/// Django's defaults: `TIMEOUT` 300 s, `MAX_ENTRIES` 300, `CULL_FREQUENCY` 3, `KEY_PREFIX` "".
pub const DEFAULT_TIMEOUT: f64 = 300.0;
pub const MAX_ENTRIES: usize = 300;
pub const CULL_FREQUENCY: usize = 3;
/// memcached's limit, which Django warns about for every backend.
pub const MEMCACHE_MAX_KEY_LENGTH: usize = 250;

/// When an entry expires: never, or at a virtual time in seconds.
pub type Expiry = Option<f64>;

/// One call the cache panel lists.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CacheCall {
    pub op: String,
    pub key: String,
    /// `Some(true)` hit, `Some(false)` miss, `None` for writes.
    pub hit: Option<bool>,
}

/// The layer a made key belongs to, from the names Django gives its keys: the page cache
/// (`views.decorators.cache.cache_page.…`), a template fragment (`template.cache.…`), or a
/// value the code stored. The page cache's header keys (the learned `Vary` headers) are none.
pub fn layer_of(made_key: &str) -> Option<protocol::CacheLayer> {
    let key = made_key.splitn(3, ':').nth(2).unwrap_or(made_key);
    if key.starts_with("views.decorators.cache.cache_page.") {
        Some(protocol::CacheLayer::Page)
    } else if key.starts_with("views.decorators.cache.cache_header.") {
        None
    } else if key.starts_with("template.cache.") {
        Some(protocol::CacheLayer::Fragment)
    } else {
        Some(protocol::CacheLayer::Value)
    }
}

/// What a read tells of its layer: a page-header lookup that misses is the page cache missing
/// (Django's `get_cache_key` finds no learned headers, so it does not look for the page); one
/// that hits says nothing yet (the page entry's own lookup decides).
pub fn read_of(made_key: &str, hit: bool) -> Option<(protocol::CacheLayer, bool)> {
    match layer_of(made_key) {
        Some(layer) => Some((layer, hit)),
        None if !hit => Some((protocol::CacheLayer::Page, false)),
        None => None,
    }
}

/// What the cache did for a request, from the cache calls it made: the outermost layer read
/// (the page, then a fragment, then a value) and whether that layer answered. Each key counts
/// by its first read (`get_or_set` reads again after filling: still a miss); a layer missed
/// when any of its keys did. A page header lookup (the learned `Vary` headers) that misses is
/// the page missing; one that hits leaves it to the page entry's own lookup.
pub fn cache_outcome(calls: &[CacheCall]) -> Option<protocol::CacheOutcome> {
    use protocol::{CacheLayer, CacheOutcome, CacheState};
    let mut first: Vec<(&str, CacheLayer, bool)> = Vec::new();
    for c in calls {
        let Some(hit) = c.hit else { continue };
        if first.iter().any(|(k, _, _)| *k == c.key) {
            continue;
        }
        if let Some((layer, hit)) = read_of(&c.key, hit) {
            first.push((&c.key, layer, hit));
        }
    }
    for layer in [CacheLayer::Page, CacheLayer::Fragment, CacheLayer::Value] {
        let here: Vec<bool> = first.iter().filter(|(_, l, _)| *l == layer).map(|(_, _, h)| *h).collect();
        if !here.is_empty() {
            let state = if here.iter().all(|h| *h) { CacheState::Hit } else { CacheState::Miss };
            return Some(CacheOutcome { layer, state });
        }
    }
    None
}

/// `make_key`: `:1:key` with Django's default empty prefix.
pub fn make_key(key: &str, version: i64) -> String {
    make_key_prefixed("", key, version)
}

/// Django's default `make_key`: `KEY_PREFIX:VERSION:key`.
pub fn make_key_prefixed(prefix: &str, key: &str, version: i64) -> String {
    format!("{prefix}:{version}:{key}")
}

/// `validate_key`: the `CacheKeyWarning` texts memcached-incompatible keys get.
pub fn key_warnings(made_key: &str) -> Vec<String> {
    let mut w = Vec::new();
    if made_key.chars().count() > MEMCACHE_MAX_KEY_LENGTH {
        w.push(format!(
            "Cache key will cause errors if used with memcached: '{}' (longer than {MEMCACHE_MAX_KEY_LENGTH})",
            made_key
        ));
    }
    if made_key.chars().any(|c| (c as u32) < 33 || c as u32 == 127) {
        w.push(format!("Cache key contains characters that will cause errors if used with memcached: '{made_key}'"));
    }
    w
}

pub struct LocMemCache<V> {
    /// Made key → (value, expiry), least recently used first.
    entries: IndexMap<String, (V, Expiry)>,
    /// `OPTIONS`' `MAX_ENTRIES` and `CULL_FREQUENCY` (300 and 3 unless set).
    pub max_entries: usize,
    pub cull_frequency: usize,
    pub calls: Vec<CacheCall>,
    /// While set, the cache is invisible: every read misses, writes are dropped, nothing is
    /// logged (rendering a page "as it would be now", to tell a stale cached page).
    pub bypass: bool,
}

impl<V> Default for LocMemCache<V> {
    fn default() -> Self {
        LocMemCache { entries: IndexMap::new(), max_entries: MAX_ENTRIES, cull_frequency: CULL_FREQUENCY, calls: Vec::new(), bypass: false }
    }
}

/// How a `timeout` argument reads: the default, never, or seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timeout {
    Default,
    Never,
    Seconds(f64),
}

impl<V: Clone + std::fmt::Debug> LocMemCache<V> {
    fn expiry(now: f64, t: Timeout) -> Expiry {
        match t {
            Timeout::Never => None,
            Timeout::Default => Some(now + DEFAULT_TIMEOUT),
            // Django: timeout 0 expires the key immediately.
            Timeout::Seconds(0.0) => Some(-1.0),
            Timeout::Seconds(s) => Some(now + s),
        }
    }

    fn expired(entry: &(V, Expiry), now: f64) -> bool {
        matches!(entry.1, Some(exp) if exp <= now)
    }

    fn log(&mut self, op: &str, key: &str, hit: Option<bool>) {
        if self.calls.len() < 10_000 {
            self.calls.push(CacheCall { op: op.into(), key: key.into(), hit });
        }
    }

    /// The stored value (not copied: the caller copies), or `None` when missing or expired.
    pub fn get(&mut self, key: &str, now: f64) -> Option<V> {
        if self.bypass {
            return None;
        }
        let found = match self.entries.get(key) {
            Some(e) if Self::expired(e, now) => {
                self.entries.shift_remove(key);
                None
            }
            Some(_) => {
                // Move to the most recently used end.
                let i = self.entries.get_index_of(key).expect("present");
                let last = self.entries.len() - 1;
                self.entries.move_index(i, last);
                self.entries.get(key).map(|(v, _)| v.clone())
            }
            None => None,
        };
        self.log("get", key, Some(found.is_some()));
        found
    }

    pub fn has_key(&mut self, key: &str, now: f64) -> bool {
        if self.bypass {
            return false;
        }
        match self.entries.get(key) {
            Some(e) if Self::expired(e, now) => {
                self.entries.shift_remove(key);
                false
            }
            Some(_) => true,
            None => false,
        }
    }

    pub fn set(&mut self, key: &str, value: V, timeout: Timeout, now: f64) {
        if self.bypass {
            return;
        }
        self.log("set", key, None);
        self.store(key, value, timeout, now);
    }

    fn store(&mut self, key: &str, value: V, timeout: Timeout, now: f64) {
        // LocMemCache._set: past MAX_ENTRIES it culls first, even to overwrite a key.
        if self.entries.len() >= self.max_entries {
            self.cull();
        }
        self.entries.shift_remove(key);
        self.entries.insert(key.to_string(), (value, Self::expiry(now, timeout)));
    }

    /// `add`: only when the key is missing or expired; whether it stored.
    pub fn add(&mut self, key: &str, value: V, timeout: Timeout, now: f64) -> bool {
        if self.bypass {
            return true;
        }
        let fresh = !self.has_key(key, now);
        self.log("add", key, Some(!fresh));
        if fresh {
            self.store(key, value, timeout, now);
        }
        fresh
    }

    pub fn touch(&mut self, key: &str, timeout: Timeout, now: f64) -> bool {
        if self.bypass {
            return false;
        }
        self.log("touch", key, None);
        if !self.has_key(key, now) {
            return false;
        }
        if let Some(e) = self.entries.get_mut(key) {
            e.1 = Self::expiry(now, timeout);
        }
        true
    }

    pub fn delete(&mut self, key: &str, now: f64) -> bool {
        if self.bypass {
            return false;
        }
        self.log("delete", key, None);
        let present = self.has_key(key, now);
        self.entries.shift_remove(key);
        present
    }

    /// The entries as they are now, to put back with `restore` (timing a page several times
    /// in the same state).
    pub fn snapshot(&self) -> IndexMap<String, (V, Expiry)> {
        self.entries.clone()
    }

    pub fn restore(&mut self, entries: IndexMap<String, (V, Expiry)>) {
        self.entries = entries;
    }

    pub fn clear(&mut self) {
        if !self.bypass {
            self.entries.clear();
        }
    }

    /// Forget the call log (a new request starts).
    pub fn reset_calls(&mut self) {
        self.calls.clear();
    }

    /// `_cull`: the least recently used `1/CULL_FREQUENCY` go; all of them with 0.
    fn cull(&mut self) {
        if self.cull_frequency == 0 {
            self.entries.clear();
            return;
        }
        let count = self.entries.len() / self.cull_frequency;
        for _ in 0..count {
            self.entries.shift_remove_index(0);
        }
    }

    /// Everything a later request could notice (keys, values, expiry, order), as text.
    pub fn fingerprint(&self) -> String {
        format!("{:?}", self.entries.iter().map(|(k, (v, e))| (k, format!("{v:?}"), e)).collect::<Vec<_>>())
    }

    /// The live keys with their expiry, for the cache panel.
    pub fn keys(&self, now: f64) -> Vec<(String, Expiry)> {
        self.entries.iter().filter(|(_, e)| !Self::expired(e, now)).map(|(k, e)| (k.clone(), e.1)).collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_inclusive_as_in_django() {
        let mut c: LocMemCache<i64> = LocMemCache::default();
        c.set(":1:k", 1i64, Timeout::Seconds(60.0), 1000.0);
        assert!(c.get(":1:k", 1059.999).is_some());
        assert!(c.get(":1:k", 1060.0).is_none());
        c.set(":1:z", 1i64, Timeout::Seconds(0.0), 1000.0);
        assert!(c.get(":1:z", 1000.0).is_none());
        c.set(":1:n", 1i64, Timeout::Never, 1000.0);
        assert!(c.get(":1:n", 1e12).is_some());
    }

    #[test]
    fn culls_a_third_past_max_entries() {
        let mut c: LocMemCache<i64> = LocMemCache::default();
        for i in 0..MAX_ENTRIES {
            c.set(&format!("k{i}"), i as i64, Timeout::Never, 0.0);
        }
        c.set("new", 0i64, Timeout::Never, 0.0);
        assert_eq!(c.len(), MAX_ENTRIES - MAX_ENTRIES / CULL_FREQUENCY + 1);
        assert!(!c.has_key("k0", 0.0));
    }

    #[test]
    fn warns_about_memcached_keys() {
        assert_eq!(key_warnings(":1:ok").len(), 0);
        assert_eq!(key_warnings(":1:has space").len(), 1);
    }
}
