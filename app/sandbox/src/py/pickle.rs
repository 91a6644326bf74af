//! What pickling and unpickling a value gives back: the cache stores copies (Django pickles
//! what it caches), so changing a list after caching it does not change the cache, and what
//! cannot be pickled fails as it would in Django.

use crate::error::{err, exc, ErrorKind, SResult};
use crate::py::objects::Function;
use crate::runtime::Rt;
use crate::value::{PyDict, Val};

/// What pickling and unpickling a value gives back (the cache stores copies).
pub fn pickle_copy(rt: &Rt, v: &Val) -> SResult<Val> {
    Ok(match v {
        Val::List(l) => Val::list(l.borrow().iter().map(|x| pickle_copy(rt, x)).collect::<SResult<_>>()?),
        Val::Tuple(t) => Val::tuple(t.iter().map(|x| pickle_copy(rt, x)).collect::<SResult<_>>()?),
        Val::Dict(d) => {
            let mut out = PyDict::new();
            for (k, x) in d.borrow().items() {
                out.set(pickle_copy(rt, &k)?, pickle_copy(rt, &x)?)?;
            }
            Val::dict(out)
        }
        Val::Set(d) => Val::set_of(d.borrow().keys().iter().map(|x| pickle_copy(rt, x)).collect::<SResult<_>>()?)?,
        Val::Obj(o) => {
            if let Some(r) = o.pickle(rt) {
                return r;
            }
            if let Some(f) = o.as_any().downcast_ref::<Function>() {
                // Module-level functions pickle by reference; lambdas and nested ones cannot.
                if f.def.is_lambda || f.qualname.contains("<locals>") {
                    return Err(exc(
                        "PicklingError",
                        format!("Can't pickle <function {}>: it is not reachable by name from its module (a lambda or a nested function)", f.qualname),
                    ));
                }
                return Ok(v.clone());
            }
            if matches!(o.type_name().as_str(), "type" | "ModelBase" | "builtin_function_or_method") {
                return Ok(v.clone());
            }
            return Err(err(ErrorKind::TypeError, format!("cannot pickle '{}' object", o.type_name())));
        }
        other => other.clone(),
    })
}
