//! The ORM's objects as data: a model class, a model instance, a QuerySet, a manager and a
//! related manager, with what can be said of them without a query. What they do when asked
//! (fetching, saving, lazy loads, the QuerySet API) is in `fetch.rs`, `write.rs`,
//! `queryset.rs` and `instance.rs`, above everything they use.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use indexmap::IndexMap;

use super::expr::Query;
use crate::runtime::{LazyLoad, Rt};
use crate::schema::{Field, FieldDefault, Model, Relation, MODELS};
use crate::error::SResult;
use crate::value::Val;

/// What rows become.
#[derive(Clone, Debug)]
pub enum RowKind {
    Models,
    Dicts(Vec<String>),
    Tuples(Vec<String>),
    Flat(String),
    Named(Vec<String>),
}

impl RowKind {
    pub fn field_names(&self) -> Vec<String> {
        match self {
            RowKind::Models => vec![],
            RowKind::Dicts(f) | RowKind::Tuples(f) | RowKind::Named(f) => f.clone(),
            RowKind::Flat(f) => vec![f.clone()],
        }
    }
}

/// `Article` as a Python value.
pub struct ModelClass(pub &'static Model);

/// A model instance.
pub struct Instance {
    pub model: &'static Model,
    /// Field values by field index; `None` = deferred (not loaded).
    pub values: RefCell<Vec<Option<Val>>>,
    /// Forward relations already fetched (`author` → the User, or None).
    pub fk_cache: RefCell<HashMap<&'static str, Val>>,
    /// `prefetch_related` results by relation name.
    pub prefetched: RefCell<HashMap<String, Rc<Vec<Val>>>>,
    /// The ordering of a `Prefetch(queryset=…)` whose rows are in `prefetched` (the cached
    /// queryset is that one: `first()` on it is ordered, so it reads the cache).
    pub prefetched_order: RefCell<HashMap<String, Vec<super::expr::OrderItem>>>,
    /// Annotations, `to_attr` lists and attributes the learner sets.
    pub extra: RefCell<IndexMap<String, Val>>,
    /// Django's `_state.adding`.
    pub adding: Cell<bool>,
    /// The relation path from the queryset that loaded it (for N+1 advice).
    pub path: RefCell<String>,
    me: Weak<Instance>,
}

impl Instance {
    pub fn new(model: &'static Model) -> Rc<Instance> {
        Rc::new_cyclic(|me| Instance {
            model,
            values: RefCell::new(vec![None; model.fields.len()]),
            fk_cache: RefCell::new(HashMap::new()),
            prefetched: RefCell::new(HashMap::new()),
            prefetched_order: RefCell::new(HashMap::new()),
            extra: RefCell::new(IndexMap::new()),
            adding: Cell::new(false),
            path: RefCell::new(String::new()),
            me: me.clone(),
        })
    }

    pub fn rc(&self) -> Rc<Instance> {
        self.me.upgrade().expect("an Instance lives in its Rc")
    }

    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.model.fields.iter().position(|f| f.name == name)
    }

    /// A loaded field value by field name (`author` gives the raw id).
    pub fn get_loaded(&self, name: &str) -> Option<Val> {
        let i = self.index(name)?;
        self.values.borrow()[i].clone()
    }

    pub fn set_value(&self, name: &str, v: Val) {
        if let Some(i) = self.index(name) {
            self.values.borrow_mut()[i] = Some(v);
        }
    }

    pub fn pk_value(&self) -> Option<i64> {
        self.get_loaded("id").and_then(|v| v.as_int())
    }

    /// What `repr()`/messages call the instance.
    pub fn display_for_error(&self) -> String {
        match self.model.str_field {
            Some(f) => self.get_loaded(f).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            None => format!("{} object ({})", self.model.name, self.pk_value().map(|p| p.to_string()).unwrap_or("None".into())),
        }
    }

    /// Whether a relation's objects are already known (select_related / prefetch / to_attr).
    pub fn is_cached(&self, name: &str) -> bool {
        self.fk_cache.borrow().contains_key(name) || self.prefetched.borrow().contains_key(name)
    }
}

/// `Field.get_default()`.
pub fn field_default(rt: &Rt, f: &Field) -> Val {
    match f.default {
        FieldDefault::Str(s) => Val::str(s),
        FieldDefault::Bool(b) => Val::Bool(b),
        FieldDefault::Now => Val::DateTime(crate::py::dates::datetime_now(rt)),
        FieldDefault::Unset => {
            if !f.null && f.empty_strings_allowed() {
                Val::str("")
            } else {
                Val::None
            }
        }
    }
}

/// The model of an instance value (for messages and checks).
pub fn model_of(v: &Val) -> Option<&'static Model> {
    v.as_obj::<Instance>().map(|i| i.model)
}

/// All sample models by name, for module namespaces.
pub fn model_classes() -> Vec<(&'static str, Val)> {
    MODELS.iter().map(|m| (m.name, Val::obj(ModelClass(m)))).collect()
}

/// Django's `MAX_GET_RESULTS`: `.get()` fetches up to 21 rows to report "more than 20".
pub const MAX_GET_RESULTS: i64 = 21;

/// A `Prefetch(lookup, queryset=..., to_attr=...)`.
#[derive(Clone)]
pub struct PrefetchSpec {
    pub lookup: String,
    pub queryset: Option<Rc<QuerySetObj>>,
    pub to_attr: Option<String>,
}

pub struct QuerySetObj {
    pub model: &'static Model,
    pub query: Query,
    pub kind: RowKind,
    pub prefetch: Vec<PrefetchSpec>,
    /// `_known_related_objects`: rows of a reverse-FK manager know their parent.
    pub known: Vec<(&'static str, i64, Val)>,
    /// `_sticky_filter`: the next filter() reuses this one's multi-valued joins.
    pub sticky: bool,
    pub cache: RefCell<Option<Rc<Vec<Val>>>>,
    /// When rows come from a related manager, the lazy load they are (for N+1 advice).
    pub lazy: Option<LazyLoad>,
    /// The path of rows from the root queryset (`tags` for `a.tags.all()`).
    pub path: String,
    /// The line of the project's Python that built it, while a profile is armed (its queries
    /// sent later, from a template, are also shown there).
    pub built: std::cell::Cell<Option<crate::profiler::LineKey>>,
    /// A statement already compiled for this very query but one parameter, and this query's value
    /// of it (`RelatedManager::rel_filtered_again`); `run()` then sends it instead of compiling.
    /// Only `all()` passes it on: a clone, a chained QuerySet or one changed in place has none.
    pub rebound: Option<(Rc<super::compiled::Rebound>, crate::engine::SqlValue)>,
}

impl Clone for QuerySetObj {
    fn clone(&self) -> Self {
        QuerySetObj {
            model: self.model,
            query: self.query.clone(),
            kind: self.kind.clone(),
            prefetch: self.prefetch.clone(),
            known: self.known.clone(),
            sticky: self.sticky,
            cache: RefCell::new(None),
            lazy: self.lazy.clone(),
            path: self.path.clone(),
            built: std::cell::Cell::new(None),
            rebound: None,
        }
    }
}

/// The QuerySet methods (what a manager proxies and `getattr` exposes).
pub const QS_METHODS: &[&str] = &[
    "all", "filter", "exclude", "get", "first", "last", "count", "exists", "none", "order_by", "reverse", "select_related",
    "prefetch_related", "annotate", "alias", "aggregate", "values", "values_list", "only", "defer", "distinct", "iterator",
    "explain", "update", "delete", "create", "bulk_create", "get_or_create", "update_or_create", "in_bulk", "latest",
    "earliest", "contains", "using", "select_for_update", "bulk_update", "datetimes", "dates", "union", "intersection", "difference",
];

/// `Article.objects`: proxies QuerySet methods; not iterable itself.
pub struct Manager {
    pub model: &'static Model,
}

impl Manager {
    pub fn new(model: &'static Model) -> Manager {
        Manager { model }
    }
}

/// `user.articles` / `article.tags` / `tag.articles`.
pub struct RelatedManager {
    pub owner: Rc<Instance>,
    pub name: String,
    pub relation: Relation,
}

pub fn related_manager(owner: Rc<Instance>, name: &str, rel: Relation) -> SResult<RelatedManager> {
    Ok(RelatedManager { owner, name: name.to_string(), relation: rel })
}

impl QuerySetObj {
    pub fn for_model(model: &'static Model) -> QuerySetObj {
        QuerySetObj {
            model,
            query: Query::new(model),
            kind: RowKind::Models,
            prefetch: vec![],
            known: vec![],
            sticky: false,
            cache: RefCell::new(None),
            lazy: None,
            path: String::new(),
            built: std::cell::Cell::new(None),
            rebound: None,
        }
    }

    /// `_chain()`: a copy for the next operation.
    pub fn chain(&self) -> QuerySetObj {
        let mut c = self.clone();
        c.query = self.query.chain();
        if self.sticky {
            c.query.filter_is_sticky = true;
            c.query.used_aliases = self.query.used_aliases.clone();
        }
        c.sticky = false;
        c
    }

    pub fn is_values(&self) -> bool {
        !matches!(self.kind, RowKind::Models)
    }

    pub fn ordered(&self) -> bool {
        !self.query.order_by.is_empty() || (self.query.default_ordering && !self.model.ordering.is_empty() && self.query.group_by == super::expr::GroupBy::None)
    }
}
