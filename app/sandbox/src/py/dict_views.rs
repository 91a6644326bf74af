//! The views a dict's `keys()`, `values()` and `items()` give (`dict_keys([…])` and kin).

use std::any::Any;
use std::rc::Rc;

use crate::error::{err, ErrorKind, SResult};
use crate::runtime::Rt;
use crate::value::{Object, Val};

/// `d.keys()`, `d.values()`, `d.items()`: the dict's entries when asked for (not a live view),
/// with a view's repr (`dict_keys([1, 2])`), no indexing, and set comparison for keys and items.
pub struct DictView {
    kind: &'static str,
    items: Rc<Vec<Val>>,
}

impl DictView {
    pub fn val(kind: &'static str, items: Vec<Val>) -> Val {
        Val::obj(DictView { kind, items: Rc::new(items) })
    }
}

impl Object for DictView {
    fn type_name(&self) -> String {
        self.kind.into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        Ok(self.items.clone())
    }
    fn len(&self, _rt: &Rt) -> SResult<usize> {
        Ok(self.items.len())
    }
    fn truthy(&self, _rt: &Rt) -> SResult<bool> {
        Ok(!self.items.is_empty())
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        let parts: Vec<String> = self.items.iter().map(|v| v.repr(rt)).collect::<SResult<_>>()?;
        Ok(format!("{}([{}])", self.kind, parts.join(", ")))
    }
    fn getitem(&self, _rt: &Rt, _key: &Val) -> SResult<Val> {
        Err(err(ErrorKind::TypeError, format!("'{}' object is not subscriptable", self.kind)))
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        // Keys and items compare as sets (with a set or a view of the same kind); values only
        // by identity.
        if self.kind == "dict_values" {
            return None;
        }
        let theirs: Vec<Val> = match other {
            Val::Set(s) => s.borrow().keys(),
            Val::Obj(o) => match o.as_any().downcast_ref::<DictView>() {
                Some(v) if v.kind == self.kind => v.items.to_vec(),
                _ => return Some(false),
            },
            _ => return Some(false),
        };
        let keys = |vals: &[Val]| -> Option<std::collections::HashSet<crate::value::HashKey>> { vals.iter().map(|v| v.hash_key().ok()).collect() };
        Some(keys(&self.items) == keys(&theirs))
    }
}
