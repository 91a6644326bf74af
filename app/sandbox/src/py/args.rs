//! Binding a native function's arguments as Python binds a signature's, with CPython's
//! messages (`f() missing 1 required positional argument: 'x'`).

use crate::error::{err, ErrorKind, SResult};
use crate::value::{Kwargs, Val};

/// Binds a native function's arguments by name, with Python's messages.
pub fn bind(fname: &str, args: Vec<Val>, kwargs: Kwargs, names: &[&str], required: usize) -> SResult<Vec<Option<Val>>> {
    if args.len() > names.len() {
        let what = if required == names.len() {
            format!("{} positional argument{}", names.len(), if names.len() == 1 { "" } else { "s" })
        } else {
            format!("at most {} arguments", names.len())
        };
        return Err(err(ErrorKind::TypeError, format!("{fname}() takes {what} ({} given)", args.len())));
    }
    let mut out: Vec<Option<Val>> = vec![None; names.len()];
    for (i, a) in args.into_iter().enumerate() {
        out[i] = Some(a);
    }
    for (k, v) in kwargs {
        match names.iter().position(|n| *n == k) {
            Some(i) if out[i].is_some() => return Err(err(ErrorKind::TypeError, format!("{fname}() got multiple values for argument '{k}'"))),
            Some(i) => out[i] = Some(v),
            None => return Err(err(ErrorKind::TypeError, format!("{fname}() got an unexpected keyword argument '{k}'"))),
        }
    }
    for (i, n) in names.iter().enumerate().take(required) {
        if out[i].is_none() {
            return Err(err(ErrorKind::TypeError, format!("{fname}() missing required argument '{n}' (pos {})", i + 1)));
        }
    }
    Ok(out)
}

pub(crate) fn no_kwargs(fname: &str, kwargs: &Kwargs) -> SResult<()> {
    match kwargs.first() {
        Some((k, _)) => Err(err(ErrorKind::TypeError, format!("{fname}() takes no keyword arguments (got '{k}')"))),
        None => Ok(()),
    }
}

pub(crate) fn arity(fname: &str, args: &[Val], min: usize, max: usize) -> SResult<()> {
    if args.len() < min || args.len() > max {
        let expect = if min == max { format!("exactly {min}") } else if args.len() < min { format!("at least {min}") } else { format!("at most {max}") };
        let s = if (if args.len() < min { min } else { max }) == 1 { "" } else { "s" };
        return Err(err(ErrorKind::TypeError, format!("{fname}() takes {expect} argument{s} ({} given)", args.len())));
    }
    Ok(())
}

pub fn as_int_arg(v: &Val, what: &str) -> SResult<i64> {
    v.as_int().ok_or_else(|| err(ErrorKind::TypeError, format!("'{}' object cannot be interpreted as an integer{what}", v.type_name())))
}
