//! `Manager.raw()`: Django's `RawQuerySet` — the learner's SQL sent as written (its `%s`
//! placeholders bound, or `%(name)s` with a dict), each row an instance of the model. Columns
//! that are not the model's become attributes; fields the SQL left out are deferred, so each
//! costs a query on first access (the N+1 a raw query hides). The rows are kept once read.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use super::model::{Instance, PrefetchSpec};
use crate::engine::{engine_form, engine_placeholders, refuse_unsafe_sql, single_statement, SqlValue};
use crate::error::{err, exc, ErrorKind, SResult};
use crate::runtime::Rt;
use crate::schema::Model;
use crate::value::{Kwargs, Object, Val};

#[derive(Clone)]
pub struct RawQuerySetObj {
    model: &'static Model,
    /// As written, with every parameter a `%s`.
    sql: String,
    params: Vec<SqlValue>,
    /// The parameters as Python values (for `str(qs.query)`, Python's `sql % params`).
    shown: Vec<Val>,
    prefetch: Vec<PrefetchSpec>,
    rows: RefCell<Option<Rc<Vec<Val>>>>,
    columns: RefCell<Option<Vec<String>>>,
}

impl RawQuerySetObj {
    /// `Manager.raw(raw_query, params=(), translations=None, using=None)`.
    pub fn new(rt: &Rt, model: &'static Model, args: Vec<Val>, kwargs: Kwargs) -> SResult<RawQuerySetObj> {
        let a = crate::py::args::bind("raw", args, kwargs, &["raw_query", "params", "translations", "using"], 1)?;
        let raw = a[0].clone().unwrap_or(Val::None);
        let sql = raw.as_str().ok_or_else(|| err(ErrorKind::TypeError, format!("raw() takes the SQL as a string, not {}", raw.type_name())))?.to_string();
        if a[2].as_ref().is_some_and(|t| !t.is_none()) {
            return Err(err(ErrorKind::NotSupported, "raw(translations=…) is not supported in the sandbox: name the columns with AS in the SQL"));
        }
        let (sql, shown) = match a[1].clone().unwrap_or(Val::None) {
            Val::None => (sql, vec![]),
            Val::Dict(d) => named_params(&sql, &d.borrow().items())?,
            p @ (Val::List(_) | Val::Tuple(_)) => (sql, p.seq_items().unwrap_or_default()),
            other => return Err(err(ErrorKind::TypeError, format!("raw() params must be a list, a tuple or a dict, not {}", other.type_name()))),
        };
        let params = shown.iter().map(|v| super::lookups::plain(rt, v)).collect::<SResult<Vec<_>>>()?;
        Ok(RawQuerySetObj { model, sql, params, shown, prefetch: vec![], rows: RefCell::new(None), columns: RefCell::new(None) })
    }

    /// `str(qs.query)`: Python's `sql % params` (parameters unquoted).
    fn query_text(&self) -> String {
        crate::engine::python_percent(&self.sql, &self.params)
    }

    /// Sends the SQL and reads its rows as instances (every call: `iterator()`).
    fn execute(&self, rt: &Rt) -> SResult<Vec<Val>> {
        refuse_unsafe_sql(&self.sql).map_err(crate::runtime::engine_error)?;
        if single_statement(&self.sql).is_none() {
            return Err(exc("ProgrammingError", "You can only execute one statement at a time."));
        }
        let result = rt.query(&self.sql, &self.params)?;
        let columns = rt.engine.borrow().columns(&engine_placeholders(engine_form(&self.sql)));
        *self.columns.borrow_mut() = Some(columns.clone());
        let index = |column: &str| columns.iter().position(|c| c == column);
        if index(self.model.pk_field().column).is_none() {
            return Err(exc("FieldDoesNotExist", "Raw query must include the primary key"));
        }
        let fields: Vec<(usize, &'static crate::schema::Field)> = self.model.fields.iter().filter_map(|f| index(f.column).map(|i| (i, f))).collect();
        let others: Vec<(usize, &String)> = columns.iter().enumerate().filter(|(_, c)| !self.model.fields.iter().any(|f| f.column == c.as_str())).collect();
        let mut out = Vec::with_capacity(result.rows.len());
        for row in &result.rows {
            let inst = Instance::new(self.model);
            for (i, f) in &fields {
                inst.set_value(f.name, super::fetch::from_db(&row[*i], Some(f.kind)));
            }
            for (i, name) in &others {
                inst.extra.borrow_mut().insert(name.to_string(), super::fetch::from_db(&row[*i], None));
            }
            out.push(Val::Obj(inst));
        }
        if !self.prefetch.is_empty() {
            super::prefetch::prefetch_related_objects(rt, &out, &self.prefetch)?;
        }
        Ok(out)
    }

    /// The rows, read once (`_fetch_all`).
    fn fetch(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        if let Some(rows) = self.rows.borrow().as_ref() {
            return Ok(rows.clone());
        }
        let rows = Rc::new(self.execute(rt)?);
        *self.rows.borrow_mut() = Some(rows.clone());
        Ok(rows)
    }
}

/// `%(name)s` placeholders (the SQLite backend's named style) as `%s`, with the values in the
/// order the SQL names them.
fn named_params(sql: &str, items: &[(Val, Val)]) -> SResult<(String, Vec<Val>)> {
    let mut out = String::new();
    let mut values = Vec::new();
    let mut rest = sql;
    while let Some(i) = rest.find("%(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find(")s").ok_or_else(|| err(ErrorKind::ValueError, "a %(name)s placeholder is not closed"))?;
        let name = &after[..end];
        let v = items.iter().find(|(k, _)| k.as_str() == Some(name)).map(|(_, v)| v.clone()).ok_or_else(|| exc("KeyError", format!("'{name}'")))?;
        values.push(v);
        out.push_str("%s");
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok((out, values))
}

impl Object for RawQuerySetObj {
    fn type_name(&self) -> String {
        "RawQuerySet".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<RawQuerySet: {}>", self.query_text()))
    }
    fn iterate(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        self.fetch(rt)
    }
    fn len(&self, rt: &Rt) -> SResult<usize> {
        Ok(self.fetch(rt)?.len())
    }
    fn truthy(&self, rt: &Rt) -> SResult<bool> {
        Ok(!self.fetch(rt)?.is_empty())
    }
    /// `qs[k]` is `list(qs)[k]`.
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        Val::list(self.fetch(rt)?.to_vec()).getitem(rt, key)
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "model" => Ok(Val::obj(super::model::ModelClass(self.model))),
            "raw_query" => Ok(Val::str(&self.sql)),
            "params" => Ok(Val::tuple(self.shown.clone())),
            "query" => Ok(Val::obj(RawQueryText(self.query_text()))),
            // RawQuery.get_columns: the statement runs (and counts) unless it has already.
            "columns" => {
                if self.columns.borrow().is_none() {
                    self.execute(rt)?;
                }
                Ok(Val::list(self.columns.borrow().clone().unwrap_or_default().into_iter().map(|c| Val::str(&c)).collect()))
            }
            _ => Err(crate::value::no_attr("RawQuerySet", name)),
        }
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        match name {
            "iterator" => Ok(Val::list(self.execute(rt)?)),
            "using" => Ok(Val::obj(self.clone())),
            "prefetch_related" => {
                let mut c = RawQuerySetObj { rows: RefCell::new(None), columns: RefCell::new(None), ..self.clone() };
                if args.len() == 1 && args[0].is_none() {
                    c.prefetch.clear();
                }
                for a in args.iter().filter(|a| !a.is_none()) {
                    c.prefetch.push(match a.as_obj::<super::api::PrefetchObj>() {
                        Some(p) => p.0.clone(),
                        None => PrefetchSpec { lookup: a.to_str(rt)?, queryset: None, to_attr: None },
                    });
                }
                let _ = kwargs;
                Ok(Val::obj(c))
            }
            _ => {
                let attr = self.getattr(rt, name)?;
                crate::value::call_value(rt, &attr, args, kwargs)
            }
        }
    }
}

/// `qs.query` of a raw queryset: prints as its SQL with the parameters in.
struct RawQueryText(String);

impl Object for RawQueryText {
    fn type_name(&self) -> String {
        "RawQuery".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn to_str(&self, _rt: &Rt) -> SResult<String> {
        Ok(self.0.clone())
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<RawQuery: {}>", self.0))
    }
}
