//! `collections.defaultdict` and `collections.Counter`: dicts with a rule for missing keys.

use std::any::Any;
use std::rc::Rc;

use crate::error::SResult;
use crate::py::ops::sort_values;
use crate::py::objects::NativeFn;
use crate::runtime::Rt;
use crate::value::{call_value, Kwargs, Object, Val};

pub(crate) enum DictKind {
    Default(Option<Val>),
    Counter,
}

/// `collections.defaultdict` / `collections.Counter`: a dict with a rule for missing keys.
pub(crate) struct DictLike {
    pub(crate) dict: crate::value::DictRef,
    pub(crate) kind: DictKind,
}

impl DictLike {
    pub(crate) fn counter_update(&self, rt: &Rt, src: &Val) -> SResult<()> {
        match src {
            Val::Dict(d) => {
                for (k, v) in d.borrow().items() {
                    let cur = self.dict.borrow().get(&k)?.unwrap_or(Val::Int(0));
                    let n = crate::py::ops::binop(rt, crate::value::BinOp::Add, &cur, &v)?;
                    self.dict.borrow_mut().set(k, n)?;
                }
            }
            other => {
                for x in other.iterate(rt)?.iter() {
                    let cur = self.dict.borrow().get(x)?.and_then(|v| v.as_int()).unwrap_or(0);
                    self.dict.borrow_mut().set(x.clone(), Val::Int(cur + 1))?;
                }
            }
        }
        Ok(())
    }
}

impl Object for DictLike {
    fn type_name(&self) -> String {
        match self.kind {
            DictKind::Default(_) => "defaultdict",
            DictKind::Counter => "Counter",
        }
        .into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn class_names(&self) -> Vec<String> {
        vec![self.type_name(), "dict".into(), "object".into()]
    }
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        if let Some(v) = self.dict.borrow().get(key)? {
            return Ok(v);
        }
        match &self.kind {
            DictKind::Counter => Ok(Val::Int(0)),
            DictKind::Default(None) => Err(crate::value::key_error(rt, key)),
            DictKind::Default(Some(f)) => {
                let v = call_value(rt, f, vec![], vec![])?;
                self.dict.borrow_mut().set(key.clone(), v.clone())?;
                Ok(v)
            }
        }
    }
    fn setitem(&self, _rt: &Rt, key: &Val, value: Val) -> SResult<()> {
        self.dict.borrow_mut().set(key.clone(), value)
    }
    fn contains(&self, _rt: &Rt, item: &Val) -> SResult<bool> {
        self.dict.borrow().contains(item)
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        Ok(Rc::new(self.dict.borrow().keys()))
    }
    fn len(&self, _rt: &Rt) -> SResult<usize> {
        Ok(self.dict.borrow().len())
    }
    fn truthy(&self, _rt: &Rt) -> SResult<bool> {
        Ok(!self.dict.borrow().is_empty())
    }
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        // Django looks a name up as a key first; `items` on a defaultdict is a key lookup
        // that creates an entry (the classic template gotcha).
        let key = Val::str(name);
        if self.dict.borrow().contains(&key)? {
            return self.getitem(rt, &key).map(Some);
        }
        match &self.kind {
            DictKind::Default(Some(_)) => self.getitem(rt, &key).map(Some),
            _ => crate::py::methods::type_attr(rt, &Val::Dict(self.dict.clone()), name).and_then(|m| call_value(rt, &m, vec![], vec![])).map(Some),
        }
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        match (&self.kind, name) {
            (DictKind::Counter, "most_common") => {
                let items = self.dict.borrow().items();
                let pairs: Vec<Val> = items.into_iter().map(|(k, v)| Val::tuple(vec![k, v])).collect();
                let key = NativeFn::val("count", |rt, a, _| a[0].getitem(rt, &Val::Int(1)));
                let mut sorted = sort_values(rt, pairs, Some(&key), true)?;
                if let Some(n) = args.first().and_then(|a| a.as_int()) {
                    sorted.truncate(n.max(0) as usize);
                }
                Ok(Val::list(sorted))
            }
            (DictKind::Counter, "update") => {
                if let Some(src) = args.first() {
                    self.counter_update(rt, src)?;
                }
                Ok(Val::None)
            }
            (DictKind::Counter, "total") => {
                let mut t = 0;
                for v in self.dict.borrow().values() {
                    t += v.as_int().unwrap_or(0);
                }
                Ok(Val::Int(t))
            }
            _ => crate::py::methods::call_type_method(rt, &Val::Dict(self.dict.clone()), name, args, kwargs),
        }
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        if name == "default_factory" {
            if let DictKind::Default(f) = &self.kind {
                return Ok(f.clone().unwrap_or(Val::None));
            }
        }
        let me = Val::Dict(self.dict.clone());
        let _ = crate::py::methods::type_attr(rt, &me, name)?;
        // A bound method that dispatches through call_method (Counter's extra methods too).
        let name = name.to_string();
        let dict = self.dict.clone();
        let counter = matches!(self.kind, DictKind::Counter);
        Ok(NativeFn::val(name.clone(), move |rt, a, k| {
            let tmp = DictLike { dict: dict.clone(), kind: if counter { DictKind::Counter } else { DictKind::Default(None) } };
            tmp.call_method(rt, &name, a, k)
        }))
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        let inner = Val::Dict(self.dict.clone()).repr(rt)?;
        Ok(match &self.kind {
            DictKind::Counter if self.dict.borrow().is_empty() => "Counter()".into(),
            DictKind::Counter => format!("Counter({inner})"),
            DictKind::Default(f) => format!("defaultdict({}, {inner})", f.as_ref().map(|f| f.repr(rt)).transpose()?.unwrap_or_else(|| "None".into())),
        })
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        let me = Val::Dict(self.dict.clone());
        match other {
            Val::Dict(_) => Some(me.py_eq(other)),
            Val::Obj(o) => o.as_any().downcast_ref::<DictLike>().map(|d| me.py_eq(&Val::Dict(d.dict.clone()))),
            _ => Some(false),
        }
    }
}
