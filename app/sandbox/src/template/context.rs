//! The variables a template sees, as Django's `Context` holds them.

use std::collections::HashMap;

use crate::runtime::Rt;
use crate::value::Val;

/// The variables a template sees: a stack of scopes (`{% with %}` and `{% for %}` push one).
#[derive(Debug, Clone)]
pub struct Context {
    pub(crate) scopes: Vec<HashMap<String, Val>>,
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl Context {
    pub fn new() -> Self {
        Context { scopes: vec![HashMap::new()] }
    }

    pub fn from_pairs<S: AsRef<str>>(pairs: impl IntoIterator<Item = (S, Val)>) -> Self {
        let mut c = Context::new();
        for (k, v) in pairs {
            c.set(k.as_ref(), v);
        }
        c
    }

    /// Sets `name` in the innermost scope.
    pub fn set(&mut self, name: &str, v: Val) {
        if let Some(top) = self.scopes.last_mut() {
            // A loop sets its variables on every pass: the name is kept, only the value changes.
            match top.get_mut(name) {
                Some(slot) => *slot = v,
                None => {
                    top.insert(name.to_string(), v);
                }
            }
        }
    }

    /// Sets `name` in the innermost scope that has it, else the innermost (`set_upward`).
    pub fn set_upward(&mut self, name: &str, v: Val) {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(slot) = scope.get_mut(name) {
                *slot = v;
                return;
            }
        }
        self.set(name, v);
    }

    pub fn get(&self, name: &str) -> Option<Val> {
        self.scopes.iter().rev().find_map(|s| s.get(name).cloned())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s.contains_key(name))
    }

    pub fn push(&mut self) {
        self.scopes.push(HashMap::new());
    }

    /// Drops the innermost scope (the outermost one always stays).
    pub fn pop(&mut self) {
        if self.scopes.len() > 1 {
            self.scopes.pop();
        }
    }
}

/// What a filter sees of the render under way: the runtime, and whether autoescaping is on.
pub(crate) struct Env<'a> {
    pub rt: &'a Rt,
    pub autoescape: bool,
}
