//! The cache backends `settings.CACHES["default"]["BACKEND"]` can name, behind one trait, and
//! the lab's server processes' caches. Local memory (Django's default) is one cache per
//! process: worker 2 does not see what worker 1 stored. The dummy cache stores nothing. A
//! shared backend (Redis, Memcached, the database, files) is one cache every process reaches;
//! the lab keeps it in memory with local memory's rules for expiry and culling.

use std::cell::RefCell;
use std::rc::Rc;

use indexmap::IndexMap;

use crate::cache::{CacheCall, Expiry, LocMemCache, Timeout};
use crate::error::{exc, SResult};
use crate::runtime::Rt;
use crate::value::Val;

/// A backend's entries, to put back after timing a page several times in the same state.
pub type Entries = IndexMap<String, (Val, Expiry)>;

/// What `django.core.cache` asks of a backend; keys arrive made (`:1:key`) and values copied.
pub trait Backend {
    /// The dotted path `settings.CACHES` names it by.
    fn path(&self) -> &str;
    /// The class name, as `type(cache).__name__` shows it.
    fn class_name(&self) -> &str {
        self.path().rsplit('.').next().unwrap_or("")
    }
    /// One cache per server process (local memory), or one they all share.
    fn per_process(&self) -> bool;
    /// A new, empty cache of the same kind (the cache of another server process).
    fn fresh(&self) -> Box<dyn Backend>;
    /// The store, for the backends that keep entries.
    fn store(&mut self) -> Option<&mut LocMemCache<Val>>;
    fn store_ref(&self) -> Option<&LocMemCache<Val>>;
    /// The calls made since the request began, for the cache panel.
    fn calls(&self) -> &[CacheCall];
    fn log(&mut self, op: &str, key: &str, hit: Option<bool>);

    fn get(&mut self, key: &str, now: f64) -> Option<Val> {
        match self.store() {
            Some(s) => s.get(key, now),
            None => {
                self.log("get", key, Some(false));
                None
            }
        }
    }
    fn set(&mut self, key: &str, value: Val, timeout: Timeout, now: f64) {
        match self.store() {
            Some(s) => s.set(key, value, timeout, now),
            None => self.log("set", key, None),
        }
    }
    /// Whether it stored (the dummy cache says it did, as Django's does).
    fn add(&mut self, key: &str, value: Val, timeout: Timeout, now: f64) -> bool {
        match self.store() {
            Some(s) => s.add(key, value, timeout, now),
            None => {
                self.log("add", key, Some(false));
                true
            }
        }
    }
    fn touch(&mut self, key: &str, timeout: Timeout, now: f64) -> bool {
        self.store().is_some_and(|s| s.touch(key, timeout, now))
    }
    fn delete(&mut self, key: &str, now: f64) -> bool {
        self.store().is_some_and(|s| s.delete(key, now))
    }
    fn has_key(&mut self, key: &str, now: f64) -> bool {
        self.store().is_some_and(|s| s.has_key(key, now))
    }
    fn clear(&mut self) {
        if let Some(s) = self.store() {
            s.clear();
        }
    }
    fn reset_calls(&mut self);
    /// While on, the cache is invisible: reads miss, writes are dropped, nothing is logged.
    fn set_bypass(&mut self, on: bool) {
        if let Some(s) = self.store() {
            s.bypass = on;
        }
    }
    fn keys(&self, now: f64) -> Vec<(String, Expiry)> {
        self.store_ref().map(|s| s.keys(now)).unwrap_or_default()
    }
    fn snapshot(&self) -> Entries {
        self.store_ref().map(|s| s.snapshot()).unwrap_or_default()
    }
    fn restore(&mut self, entries: Entries) {
        if let Some(s) = self.store() {
            s.restore(entries);
        }
    }
    /// Everything a later request could notice, as text.
    fn fingerprint(&self) -> String {
        format!("{}:{}", self.path(), self.store_ref().map(|s| s.fingerprint()).unwrap_or_default())
    }
}

const LOCMEM: &str = "django.core.cache.backends.locmem.LocMemCache";
const DUMMY: &str = "django.core.cache.backends.dummy.DummyCache";
const SHARED: [&str; 4] = ["django.core.cache.backends.redis.", "django.core.cache.backends.memcached.", "django.core.cache.backends.db.", "django.core.cache.backends.filebased."];

/// `LocMemCache`: entries in the server process's memory.
#[derive(Default)]
pub struct LocalMemory {
    store: LocMemCache<Val>,
}

/// A cache every server process shares (Redis, Memcached, the database, files).
pub struct Shared {
    path: String,
    store: LocMemCache<Val>,
}

/// `DummyCache`: implements the interface and stores nothing.
#[derive(Default)]
pub struct Dummy {
    calls: Vec<CacheCall>,
}

macro_rules! store_backend {
    () => {
        fn store(&mut self) -> Option<&mut LocMemCache<Val>> {
            Some(&mut self.store)
        }
        fn store_ref(&self) -> Option<&LocMemCache<Val>> {
            Some(&self.store)
        }
        fn calls(&self) -> &[CacheCall] {
            &self.store.calls
        }
        fn log(&mut self, _op: &str, _key: &str, _hit: Option<bool>) {}
        fn reset_calls(&mut self) {
            self.store.reset_calls();
        }
    };
}

impl Backend for LocalMemory {
    fn path(&self) -> &str {
        LOCMEM
    }
    fn per_process(&self) -> bool {
        true
    }
    fn fresh(&self) -> Box<dyn Backend> {
        Box::new(LocalMemory::default())
    }
    store_backend!();
}

impl Backend for Shared {
    fn path(&self) -> &str {
        &self.path
    }
    fn per_process(&self) -> bool {
        false
    }
    fn fresh(&self) -> Box<dyn Backend> {
        Box::new(Shared { path: self.path.clone(), store: LocMemCache::default() })
    }
    store_backend!();
}

impl Backend for Dummy {
    fn path(&self) -> &str {
        DUMMY
    }
    fn per_process(&self) -> bool {
        true
    }
    fn fresh(&self) -> Box<dyn Backend> {
        Box::new(Dummy::default())
    }
    fn store(&mut self) -> Option<&mut LocMemCache<Val>> {
        None
    }
    fn store_ref(&self) -> Option<&LocMemCache<Val>> {
        None
    }
    fn calls(&self) -> &[CacheCall] {
        &self.calls
    }
    fn log(&mut self, op: &str, key: &str, hit: Option<bool>) {
        if self.calls.len() < 10_000 {
            self.calls.push(CacheCall { op: op.into(), key: key.into(), hit });
        }
    }
    fn reset_calls(&mut self) {
        self.calls.clear();
    }
}

/// The backend `settings.CACHES["default"]["BACKEND"]` names; Django's error for a path it
/// cannot import.
pub fn backend_for(path: &str) -> SResult<Box<dyn Backend>> {
    if path == LOCMEM {
        Ok(Box::new(LocalMemory::default()))
    } else if path == DUMMY {
        Ok(Box::new(Dummy::default()))
    } else if SHARED.iter().any(|p| path.starts_with(p)) {
        Ok(Box::new(Shared { path: path.to_string(), store: LocMemCache::default() }))
    } else {
        Err(exc(
            "InvalidCacheBackendError",
            format!("Could not find backend '{path}': the lab knows django.core.cache.backends' locmem.LocMemCache, dummy.DummyCache, redis.RedisCache, memcached.PyMemcacheCache, db.DatabaseCache and filebased.FileBasedCache"),
        ))
    }
}

/// The caches of the lab's server processes: the one answering now, and the others'.
pub struct Caches {
    current: Box<dyn Backend>,
    /// The process answering requests (1 or 2).
    worker: u8,
    /// Per-process caches of the other workers by number - 1 (`None` at the current one's
    /// place and where a worker has not run yet).
    others: Vec<Option<Box<dyn Backend>>>,
}

impl Default for Caches {
    fn default() -> Self {
        Caches { current: Box::new(LocalMemory::default()), worker: 1, others: Vec::new() }
    }
}

impl Caches {
    /// The backend every process uses from now on, empty (a project's settings were loaded).
    pub fn configure(&mut self, backend: Box<dyn Backend>) {
        if backend.path() != self.current.path() {
            self.current = backend;
            self.others.clear();
        }
    }

    /// The backend answering the current process.
    pub fn backend(&mut self) -> &mut dyn Backend {
        &mut *self.current
    }

    pub fn backend_ref(&self) -> &dyn Backend {
        &*self.current
    }

    pub fn worker(&self) -> u8 {
        self.worker
    }

    /// Requests now go to `worker`: with a per-process backend it has its own cache.
    pub fn switch_worker(&mut self, worker: u8) {
        let now = self.worker;
        if worker == now || worker == 0 {
            return;
        }
        if self.current.per_process() {
            let needed = usize::from(worker.max(now));
            while self.others.len() < needed {
                self.others.push(None);
            }
            let theirs = self.others[usize::from(worker) - 1].take().unwrap_or_else(|| self.current.fresh());
            let mine = std::mem::replace(&mut self.current, theirs);
            self.others[usize::from(now) - 1] = Some(mine);
        }
        self.worker = worker;
    }

    /// Everything a later request could notice of every process's cache, as text.
    pub fn fingerprint(&self) -> String {
        let mut out = format!("worker {}: {}", self.worker, self.current.fingerprint());
        for (i, c) in self.others.iter().enumerate() {
            if let Some(c) = c {
                out.push_str(&format!("; worker {}: {}", i + 1, c.fingerprint()));
            }
        }
        out
    }
}

/// The session's caches.
pub fn caches(rt: &Rt) -> Rc<RefCell<Caches>> {
    rt.state::<RefCell<Caches>>()
}

/// Runs `f` on the backend answering the current process.
pub fn with_backend<T>(rt: &Rt, f: impl FnOnce(&mut dyn Backend) -> T) -> T {
    let caches = caches(rt);
    let mut c = caches.borrow_mut();
    f(c.backend())
}

/// Runs `f` as if the cache were empty and switched off, leaving no trace (see
/// [`Rt::without_trace`]); the write lock's state is put back too (the stale-page check renders
/// a page a second time this way).
pub fn without_cache<T>(rt: &Rt, f: impl FnOnce() -> T) -> T {
    let lock = crate::db::lock::lock(rt).borrow().clone();
    with_backend(rt, |b| b.set_bypass(true));
    let out = rt.without_trace(f);
    with_backend(rt, |b| b.set_bypass(false));
    *crate::db::lock::lock(rt).borrow_mut() = lock;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_memory_is_per_process_and_a_shared_backend_is_not() {
        let mut c = Caches::default();
        c.backend().set(":1:k", Val::Int(1), Timeout::Never, 0.0);
        c.switch_worker(2);
        assert!(c.backend().get(":1:k", 0.0).is_none(), "worker 2 has its own local memory");
        c.switch_worker(1);
        assert!(c.backend().get(":1:k", 0.0).is_some(), "worker 1 keeps its own");

        let mut c = Caches::default();
        c.configure(backend_for("django.core.cache.backends.redis.RedisCache").unwrap());
        c.backend().set(":1:k", Val::Int(1), Timeout::Never, 0.0);
        c.switch_worker(2);
        assert!(c.backend().get(":1:k", 0.0).is_some(), "every worker reaches Redis");
        assert_eq!(c.backend_ref().class_name(), "RedisCache");
    }

    #[test]
    fn the_dummy_cache_stores_nothing_and_says_add_worked() {
        let mut c = Caches::default();
        c.configure(backend_for("django.core.cache.backends.dummy.DummyCache").unwrap());
        c.backend().set(":1:k", Val::Int(1), Timeout::Never, 0.0);
        assert!(c.backend().get(":1:k", 0.0).is_none());
        assert!(c.backend().add(":1:k", Val::Int(1), Timeout::Never, 0.0));
        assert!(!c.backend().has_key(":1:k", 0.0));
        assert_eq!(c.backend_ref().calls().iter().map(|c| c.op.as_str()).collect::<Vec<_>>(), ["set", "get", "add"]);
    }

    #[test]
    fn an_unknown_backend_is_refused_with_its_path() {
        let e = backend_for("django.core.cache.backends.nope.Nope").err().expect("refused");
        assert!(e.to_string().contains("nope.Nope"), "{e}");
    }
}
