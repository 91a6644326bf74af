//! `django.core.paginator`: `Paginator`, `Page`, `EmptyPage`, `PageNotAnInteger`, with
//! Django's query behaviour — `count` asks the queryset (`SELECT COUNT(*)`, or the length of
//! rows already fetched) once per paginator, a page is a slice (`LIMIT/OFFSET`) fetched when
//! first measured or iterated — and Django's rules for page numbers (`get_page("abc")` is
//! page 1, a number past the end is the last page).

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use crate::error::{err, exc, ErrorKind, SResult};
use crate::orm::model::QuerySetObj;
use crate::py::args::bind;
use crate::py::objects::RangeObj;
use crate::py::objects::NativeFn;
use crate::runtime::Rt;
use crate::value::{no_attr, Kwargs, Object, Val};

const INVALID_PAGE: &str = "That page number is not an integer";
const MIN_PAGE: &str = "That page number is less than 1";
const NO_RESULTS: &str = "That page contains no results";
/// `Paginator.ELLIPSIS`.
pub const ELLIPSIS: &str = "…";

pub struct Paginator {
    pub object_list: Val,
    pub per_page: i64,
    pub orphans: i64,
    pub allow_empty_first_page: bool,
    count: RefCell<Option<i64>>,
    me: std::rc::Weak<Paginator>,
}

impl Paginator {
    /// `Paginator(object_list, per_page, orphans=0, allow_empty_first_page=True)`.
    pub fn construct(rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        let a = bind("Paginator.__init__", args, kwargs, &["object_list", "per_page", "orphans", "allow_empty_first_page", "error_messages"], 2)?;
        let object_list = a[0].clone().expect("required");
        let per_page = crate::py::format::py_int(a[1].as_ref().expect("required"))?;
        let orphans = match &a[2] {
            Some(v) => crate::py::format::py_int(v)?,
            None => 0,
        };
        let allow_empty_first_page = match &a[3] {
            Some(v) => v.truthy(rt)?,
            None => true,
        };
        // _check_object_list_is_ordered: an unordered queryset gets a warning, not an error.
        if let Some(qs) = object_list.as_obj::<QuerySetObj>() {
            if !qs.ordered() {
                let shown = format!("{} QuerySet", qs.model.name);
                rt.warnings.borrow_mut().push(format!(
                    "UnorderedObjectListWarning: Pagination may yield inconsistent results with an unordered object_list: <class '{}.models.{}'> {shown}.",
                    qs.model.app_label, qs.model.name
                ));
            }
        }
        let p = Rc::new_cyclic(|me| Paginator { object_list, per_page, orphans, allow_empty_first_page, count: RefCell::new(None), me: me.clone() });
        Ok(Val::Obj(p))
    }

    fn rc(&self) -> Rc<Paginator> {
        self.me.upgrade().expect("a Paginator lives in its Rc")
    }

    /// `count`: `object_list.count()` for a queryset (cached per paginator), else `len()`.
    pub fn count(&self, rt: &Rt) -> SResult<i64> {
        if let Some(c) = *self.count.borrow() {
            return Ok(c);
        }
        let c = match &self.object_list {
            Val::Obj(o) if o.as_any().is::<QuerySetObj>() => {
                let v = o.call_method(rt, "count", vec![], vec![])?;
                v.as_int().unwrap_or(0)
            }
            Val::Obj(o) if o.as_any().is::<crate::py::objects::Instance>() => {
                // A Python object with a no-argument count() method is asked; else len().
                match o.getattr(rt, "count") {
                    Ok(f @ Val::Obj(_)) if f.as_obj::<crate::py::objects::BoundMethod>().is_some() => {
                        crate::value::call_value(rt, &f, vec![], vec![])?.as_int().unwrap_or(0)
                    }
                    _ => self.object_list.len(rt)? as i64,
                }
            }
            other => other.len(rt)? as i64,
        };
        *self.count.borrow_mut() = Some(c);
        Ok(c)
    }

    pub fn num_pages(&self, rt: &Rt) -> SResult<i64> {
        let count = self.count(rt)?;
        if count == 0 && !self.allow_empty_first_page {
            return Ok(0);
        }
        let hits = (count - self.orphans).max(1);
        if self.per_page <= 0 {
            return Err(exc("ZeroDivisionError", "division by zero"));
        }
        Ok((hits + self.per_page - 1) / self.per_page)
    }

    /// `validate_number`.
    pub fn validate_number(&self, rt: &Rt, number: &Val) -> SResult<i64> {
        let n = match number {
            Val::Float(f) if f.fract() != 0.0 => return Err(exc("PageNotAnInteger", INVALID_PAGE)),
            Val::Int(_) | Val::Bool(_) | Val::Float(_) | Val::Str(_) | Val::SafeStr(_) => match crate::py::format::py_int(number) {
                Ok(n) => n,
                Err(_) => return Err(exc("PageNotAnInteger", INVALID_PAGE)),
            },
            _ => return Err(exc("PageNotAnInteger", INVALID_PAGE)),
        };
        if n < 1 {
            return Err(exc("EmptyPage", MIN_PAGE));
        }
        if n > self.num_pages(rt)? {
            return Err(exc("EmptyPage", NO_RESULTS));
        }
        Ok(n)
    }

    /// `page(number)`.
    pub fn page(&self, rt: &Rt, number: &Val) -> SResult<Val> {
        let number = self.validate_number(rt, number)?;
        let bottom = (number - 1) * self.per_page;
        let mut top = bottom + self.per_page;
        if top + self.orphans >= self.count(rt)? {
            top = self.count(rt)?;
        }
        let items = self.object_list.getslice(rt, Some(bottom), Some(top), None)?;
        Ok(Val::obj(Page { object_list: RefCell::new(items), number, paginator: self.rc() }))
    }

    /// `get_page(number)`: never raises for a bad number.
    pub fn get_page(&self, rt: &Rt, number: &Val) -> SResult<Val> {
        let n = match self.validate_number(rt, number) {
            Ok(n) => n,
            Err(e) if e.is_a("PageNotAnInteger") => 1,
            Err(e) if e.is_a("EmptyPage") => self.num_pages(rt)?,
            Err(e) => return Err(e),
        };
        self.page(rt, &Val::Int(n))
    }

    /// `get_elided_page_range(number=1, *, on_each_side=3, on_ends=2)`.
    pub fn elided_page_range(&self, rt: &Rt, number: &Val, on_each_side: i64, on_ends: i64) -> SResult<Vec<Val>> {
        let number = self.validate_number(rt, number)?;
        let num_pages = self.num_pages(rt)?;
        let range = |a: i64, b: i64| (a..b).map(Val::Int).collect::<Vec<_>>();
        let mut out = Vec::new();
        if num_pages <= (on_each_side + on_ends) * 2 {
            return Ok(range(1, num_pages + 1));
        }
        if number > (1 + on_each_side + on_ends) + 1 {
            out.extend(range(1, on_ends + 1));
            out.push(Val::str(ELLIPSIS));
            out.extend(range(number - on_each_side, number + 1));
        } else {
            out.extend(range(1, number + 1));
        }
        if number < (num_pages - on_each_side - on_ends) - 1 {
            out.extend(range(number + 1, number + on_each_side + 1));
            out.push(Val::str(ELLIPSIS));
            out.extend(range(num_pages - on_ends + 1, num_pages + 1));
        } else {
            out.extend(range(number + 1, num_pages + 1));
        }
        Ok(out)
    }
}

impl Object for Paginator {
    fn type_name(&self) -> String {
        "Paginator".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn class_names(&self) -> Vec<String> {
        vec!["Paginator".into(), "object".into()]
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        let me = self.rc();
        Ok(match name {
            "object_list" => self.object_list.clone(),
            "per_page" => Val::Int(self.per_page),
            "orphans" => Val::Int(self.orphans),
            "allow_empty_first_page" => Val::Bool(self.allow_empty_first_page),
            "count" => Val::Int(self.count(rt)?),
            "num_pages" => Val::Int(self.num_pages(rt)?),
            "page_range" => Val::obj(RangeObj { start: 1, stop: self.num_pages(rt)? + 1, step: 1 }),
            "ELLIPSIS" => Val::str(ELLIPSIS),
            "page" => NativeFn::val("page", move |rt, args, kwargs| {
                let a = bind("page", args, kwargs, &["number"], 1)?;
                me.page(rt, a[0].as_ref().expect("required"))
            }),
            "get_page" => NativeFn::val("get_page", move |rt, args, kwargs| {
                let a = bind("get_page", args, kwargs, &["number"], 1)?;
                me.get_page(rt, a[0].as_ref().expect("required"))
            }),
            "validate_number" => NativeFn::val("validate_number", move |rt, args, kwargs| {
                let a = bind("validate_number", args, kwargs, &["number"], 1)?;
                Ok(Val::Int(me.validate_number(rt, a[0].as_ref().expect("required"))?))
            }),
            "get_elided_page_range" => NativeFn::val("get_elided_page_range", move |rt, args, kwargs| {
                let a = bind("get_elided_page_range", args, kwargs, &["number", "on_each_side", "on_ends"], 0)?;
                let number = a[0].clone().unwrap_or(Val::Int(1));
                let side = a[1].as_ref().map(crate::py::format::py_int).transpose()?.unwrap_or(3);
                let ends = a[2].as_ref().map(crate::py::format::py_int).transpose()?.unwrap_or(2);
                let _ = rt;
                let me = me.clone();
                // A generator in Django: nothing (not even the count) runs until it is iterated.
                Ok(Val::obj(crate::py::objects::GeneratorObj {
                    qualname: "Paginator.get_elided_page_range".into(),
                    thunk: Rc::new(move |rt| me.elided_page_range(rt, &number, side, ends)),
                    done: std::cell::Cell::new(false),
                }))
            }),
            _ => return Err(no_attr("Paginator", name)),
        })
    }
    /// Iterating a paginator yields its pages.
    fn iterate(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        let n = self.num_pages(rt)?;
        Ok(Rc::new((1..=n).map(|i| self.page(rt, &Val::Int(i))).collect::<SResult<_>>()?))
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok("<django.core.paginator.Paginator object>".into())
    }
}

/// One page: `object_list` (a sliced queryset until first used), `number`, the navigation
/// helpers.
pub struct Page {
    object_list: RefCell<Val>,
    pub number: i64,
    paginator: Rc<Paginator>,
}

impl Page {
    /// `Page.__getitem__` turns a queryset into a list once, so indexing costs one query.
    fn as_list(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        let cur = self.object_list.borrow().clone();
        if let Val::List(l) = &cur {
            return Ok(Rc::new(l.borrow().clone()));
        }
        let items = cur.iterate(rt)?;
        *self.object_list.borrow_mut() = Val::list(items.as_ref().clone());
        Ok(items)
    }

    fn start_index(&self, rt: &Rt) -> SResult<i64> {
        if self.paginator.count(rt)? == 0 {
            return Ok(0);
        }
        Ok(self.paginator.per_page * (self.number - 1) + 1)
    }

    fn end_index(&self, rt: &Rt) -> SResult<i64> {
        if self.number == self.paginator.num_pages(rt)? {
            return self.paginator.count(rt);
        }
        Ok(self.number * self.paginator.per_page)
    }
}

impl Object for Page {
    fn type_name(&self) -> String {
        "Page".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        let p = self.paginator.clone();
        let number = self.number;
        let flag = |name: &'static str, v: bool| NativeFn::val(name, move |_, _, _| Ok(Val::Bool(v)));
        let num_pages = || p.num_pages(rt);
        Ok(match name {
            "object_list" => self.object_list.borrow().clone(),
            "number" => Val::Int(self.number),
            "paginator" => Val::Obj(self.paginator.clone()),
            "has_next" => flag("has_next", number < num_pages()?),
            "has_previous" => flag("has_previous", number > 1),
            "has_other_pages" => flag("has_other_pages", number > 1 || number < num_pages()?),
            "next_page_number" | "previous_page_number" => {
                let target = if name == "next_page_number" { number + 1 } else { number - 1 };
                let pg = p.clone();
                NativeFn::val(name, move |rt, _, _| Ok(Val::Int(pg.validate_number(rt, &Val::Int(target))?)))
            }
            "start_index" => {
                let v = self.start_index(rt)?;
                NativeFn::val("start_index", move |_, _, _| Ok(Val::Int(v)))
            }
            "end_index" => {
                let v = self.end_index(rt)?;
                NativeFn::val("end_index", move |_, _, _| Ok(Val::Int(v)))
            }
            _ => return Err(no_attr("Page", name)),
        })
    }
    fn len(&self, rt: &Rt) -> SResult<usize> {
        let cur = self.object_list.borrow().clone();
        cur.len(rt)
    }
    fn truthy(&self, rt: &Rt) -> SResult<bool> {
        Ok(self.len(rt)? > 0)
    }
    fn iterate(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        self.as_list(rt)
    }
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        let ok = matches!(key, Val::Int(_) | Val::Bool(_)) || key.as_obj::<crate::value::SliceVal>().is_some();
        if !ok {
            return Err(err(ErrorKind::TypeError, format!("Page indices must be integers or slices, not {}.", key.type_name())));
        }
        let items = self.as_list(rt)?;
        Val::list(items.as_ref().clone()).getitem(rt, key)
    }
    fn getslice(&self, rt: &Rt, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> SResult<Val> {
        let items = self.as_list(rt)?;
        Val::list(items.as_ref().clone()).getslice(rt, start, stop, step)
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        Ok(format!("<Page {} of {}>", self.number, self.paginator.num_pages(rt)?))
    }
}

/// The `django.core.paginator` names.
pub fn module_names() -> Vec<(&'static str, Val)> {
    vec![
        ("Paginator", NativeFn::val("Paginator", Paginator::construct)),
        ("EmptyPage", Val::obj(crate::py::objects::ExceptionClass("EmptyPage".into()))),
        ("PageNotAnInteger", Val::obj(crate::py::objects::ExceptionClass("PageNotAnInteger".into()))),
        ("InvalidPage", Val::obj(crate::py::objects::ExceptionClass("InvalidPage".into()))),
    ]
}
