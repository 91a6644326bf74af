//! Django's cache framework, the local-memory backend: keys with timeouts in seconds.
//!
//! Used by `{% cache %}` (fragments), and by the low-level API lessons (`cache.get/set`).
//! Time comes from [`crate::clock::wall_ms`], so the browser and tests share one notion of it.

use std::collections::HashMap;

use crate::clock;
use crate::value::Val;

#[derive(Default)]
pub struct Cache {
    entries: HashMap<String, (Val, Option<f64>)>,
    pub hits: u64,
    pub misses: u64,
}

impl Cache {
    /// `cache.get(key)`: `None` when missing or expired.
    pub fn get(&mut self, key: &str) -> Option<Val> {
        let now = clock::wall_ms();
        let found = match self.entries.get(key) {
            Some((_, Some(exp))) if *exp <= now => {
                self.entries.remove(key);
                None
            }
            Some((v, _)) => Some(v.clone()),
            None => None,
        };
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    /// `cache.set(key, value, timeout)`: `timeout` in seconds, `None` = forever, `0` or less = do not cache.
    pub fn set(&mut self, key: &str, value: Val, timeout_s: Option<f64>) {
        match timeout_s {
            Some(t) if t <= 0.0 => {
                self.entries.remove(key);
            }
            Some(t) => {
                self.entries.insert(key.to_string(), (value, Some(clock::wall_ms() + t * 1000.0)));
            }
            None => {
                self.entries.insert(key.to_string(), (value, None));
            }
        }
    }

    pub fn delete(&mut self, key: &str) -> bool {
        self.entries.remove(key).is_some()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.hits = 0;
        self.misses = 0;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
