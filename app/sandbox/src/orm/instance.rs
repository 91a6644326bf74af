//! Model classes and instances: attribute access with Django's laziness (a foreign key is
//! fetched on first access and cached; a deferred field costs one query; a prefetch answers
//! `all()`), assignment rules, `save()`, `delete()`, `refresh_from_db()`, equality by pk,
//! and the class-level API (`Article.objects`, `Article.DoesNotExist`, `Article.Status`).

use std::any::Any;
use std::rc::Rc;


use super::model::{field_default, Instance, Manager, ModelClass, QuerySetObj};
use crate::error::{err, exc, ErrorKind, SResult};
use crate::py::objects::NativeFn;
use crate::runtime::{LazyLoad, Rt};
use crate::schema::{self, Field, FieldKind, Model};
use crate::value::{no_attr, HashKey, Kwargs, Object, Val};

// ---------------------------------------------------------------- the model class

impl Object for ModelClass {
    fn instances_named(&self) -> Option<String> {
        Some(self.0.name.to_string())
    }
    fn type_name(&self) -> String {
        "ModelBase".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn is_callable(&self) -> bool {
        true
    }
    fn call(&self, rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        Instance::construct(rt, self.0, args, kwargs)
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        let m = self.0;
        match name {
            "objects" | "_default_manager" | "_base_manager" => Ok(Val::obj(Manager::new(m))),
            "DoesNotExist" => Ok(Val::obj(crate::py::objects::ExceptionClass(format!("{}.DoesNotExist", m.name)))),
            "MultipleObjectsReturned" => Ok(Val::obj(crate::py::objects::ExceptionClass(format!("{}.MultipleObjectsReturned", m.name)))),
            "__name__" | "__qualname__" => Ok(Val::str(m.name)),
            "_meta" => Ok(Val::obj(Options(m))),
            "pk" => Err(no_attr(m.name, name)),
            _ => {
                if let Some((_, field)) = m.choices_classes.iter().find(|(c, _)| *c == name) {
                    let f = m.field(field).expect("schema is consistent");
                    return Ok(Val::obj(ChoicesClass { name: format!("{}.{name}", m.name), field: f }));
                }
                // Fields and relations are descriptors on the class.
                if m.field(name).is_some() || m.relation(name).is_some() {
                    return Ok(Val::obj(FieldDescriptor { model: m, name: name.to_string() }));
                }
                let _ = rt;
                Err(err(ErrorKind::AttributeError, format!("type object '{}' has no attribute '{name}'", m.name)))
            }
        }
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<class '{}.{}'>", self.0.module, self.0.name))
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        Some(other.as_obj::<ModelClass>().is_some_and(|o| o.0.name == self.0.name))
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Other(format!("model:{}", self.0.name)))
    }
}

/// `Article.title` on the class: a deferred-attribute descriptor (used in `Article.tags.through`).
struct FieldDescriptor {
    model: &'static Model,
    name: String,
}

impl Object for FieldDescriptor {
    fn type_name(&self) -> String {
        "DeferredAttribute".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "field" => Ok(Val::str(format!("{}.{}", self.model.name, self.name))),
            "through" if self.model.m2m.iter().any(|m| m.name == self.name) => {
                let m2m = self.model.m2m.iter().find(|m| m.name == self.name).expect("checked");
                Ok(Val::obj(ModelClass(schema::through_model(m2m.table).expect("through model"))))
            }
            _ => Err(no_attr("DeferredAttribute", name)),
        }
    }
}

/// `Article.Status`: a `TextChoices` class.
pub struct ChoicesClass {
    pub name: String,
    pub field: &'static Field,
}

impl Object for ChoicesClass {
    fn type_name(&self) -> String {
        "ChoicesType".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "choices" => Ok(Val::list(self.field.choices.iter().map(|(v, l)| Val::tuple(vec![Val::str(v), Val::str(l)])).collect())),
            "values" => Ok(Val::list(self.field.choices.iter().map(|(v, _)| Val::str(v)).collect())),
            "labels" => Ok(Val::list(self.field.choices.iter().map(|(_, l)| Val::str(l)).collect())),
            "names" => Ok(Val::list(self.field.choices.iter().map(|(v, _)| Val::str(v.to_uppercase())).collect())),
            _ => match self.field.choices.iter().find(|(v, _)| v.to_uppercase() == name) {
                // TextChoices members are str subclasses: they compare and print as their value.
                Some((v, _)) => Ok(Val::str(v)),
                None => Err(err(ErrorKind::AttributeError, format!("type object '{}' has no attribute '{name}'", self.name.rsplit('.').next().unwrap_or(&self.name)))),
            },
        }
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        Ok(Rc::new(self.field.choices.iter().map(|(v, _)| Val::str(v)).collect()))
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<enum '{}'>", self.name.rsplit('.').next().unwrap_or(&self.name)))
    }
}

/// `Article._meta`.
struct Options(&'static Model);

impl Object for Options {
    fn type_name(&self) -> String {
        "Options".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        let m = self.0;
        match name {
            "db_table" => Ok(Val::str(m.table)),
            "model_name" => Ok(Val::str(m.name.to_lowercase())),
            "object_name" => Ok(Val::str(m.name)),
            "app_label" => Ok(Val::str(m.app_label)),
            "label" => Ok(Val::str(format!("{}.{}", m.app_label, m.name))),
            "ordering" => Ok(Val::list(m.ordering.iter().map(Val::str).collect())),
            "verbose_name" => Ok(Val::str(m.name.to_lowercase())),
            "fields" | "concrete_fields" => Ok(Val::tuple(m.fields.iter().map(|f| Val::str(format!("{}.{}.{}", m.app_label, m.name, f.name))).collect())),
            "get_field" => {
                let model = m;
                Ok(NativeFn::val("get_field", move |_rt, args, _| {
                    let n = args.first().and_then(|a| a.as_str()).unwrap_or("").to_string();
                    if model.field(&n).is_some() || model.relation(&n).is_some() {
                        Ok(Val::str(format!("{}.{}.{n}", model.app_label, model.name)))
                    } else {
                        Err(exc("FieldDoesNotExist", format!("{} has no field named '{n}'", model.name)))
                    }
                }))
            }
            _ => Err(no_attr("Options", name)),
        }
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<Options for {}>", self.0.name))
    }
}

// ---------------------------------------------------------------- instances

impl Instance {
    /// `Article(...)`: defaults for what is not given, keyword and positional values.
    pub fn construct(rt: &Rt, model: &'static Model, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        let inst = Instance::new(model);
        inst.adding.set(true);
        if args.len() > model.fields.len() {
            return Err(err(ErrorKind::IndexError, "Number of args exceeds number of fields"));
        }
        for (i, a) in args.into_iter().enumerate() {
            let f = &model.fields[i];
            inst.values.borrow_mut()[i] = Some(a.clone());
            if f.is_relation() {
                if let Val::Obj(_) = &a {
                    return Err(err(ErrorKind::ValueError, format!("Cannot assign a model instance positionally to '{}'", f.name)));
                }
            }
        }
        let mut unexpected = Vec::new();
        for (k, v) in kwargs {
            let name = if k == "pk" { "id".to_string() } else { k.clone() };
            if let Some(f) = model.fields.iter().find(|f| f.name == name) {
                if inst.get_loaded(f.name).is_some() && model.fields.iter().position(|x| x.name == f.name).is_some_and(|i| i < model.fields.len()) {
                    if inst.values.borrow()[model.fields.iter().position(|x| x.name == f.name).expect("found")].is_some() {
                        return Err(err(ErrorKind::TypeError, format!("{}() got both positional and keyword arguments for field '{}'.", model.name, f.name)));
                    }
                }
                inst.assign_field(rt, f, v)?;
            } else if let Some(f) = model.fields.iter().find(|f| f.is_relation() && f.column == name) {
                inst.set_value(f.name, v);
            } else if model.m2m.iter().any(|m| m.name == name) || model.relation(&name).is_some() {
                let what = if model.m2m.iter().any(|m| m.name == name) { "forward side of a many-to-many set" } else { "reverse side of a related set" };
                return Err(err(ErrorKind::TypeError, format!("Direct assignment to the {what} is prohibited. Use {name}.set() instead.")));
            } else {
                unexpected.push(format!("'{k}'"));
            }
        }
        if !unexpected.is_empty() {
            return Err(err(ErrorKind::TypeError, format!("{}() got unexpected keyword arguments: {}", model.name, unexpected.join(", "))));
        }
        for (i, f) in model.fields.iter().enumerate() {
            if inst.values.borrow()[i].is_none() {
                let d = field_default(rt, f);
                inst.values.borrow_mut()[i] = Some(d);
            }
        }
        Ok(Val::Obj(inst))
    }

    /// Assigns a field by name, as `instance.name = value` does (foreign keys take instances).
    pub fn assign_field(&self, rt: &Rt, f: &'static Field, v: Val) -> SResult<()> {
        let v = crate::value::resolve_lazy(rt, v)?;
        if let FieldKind::ForeignKey(to) = f.kind {
            match &v {
                Val::None => {
                    if !f.null && !self.adding.get() {
                        // Django allows None on the instance; the database refuses it at save().
                    }
                    self.set_value(f.name, Val::None);
                    self.fk_cache.borrow_mut().insert(f.name, Val::None);
                }
                Val::Obj(o) => match o.as_any().downcast_ref::<Instance>() {
                    Some(other) if other.model.name == to => {
                        self.set_value(f.name, other.get_loaded("id").unwrap_or(Val::None));
                        self.fk_cache.borrow_mut().insert(f.name, v.clone());
                    }
                    _ => {
                        return Err(err(
                            ErrorKind::ValueError,
                            format!("Cannot assign \"{}\": \"{}.{}\" must be a \"{to}\" instance.", v.repr(rt)?, self.model.name, f.name),
                        ))
                    }
                },
                other => {
                    return Err(err(
                        ErrorKind::ValueError,
                        format!("Cannot assign \"{}\": \"{}.{}\" must be a \"{to}\" instance.", other.repr(rt)?, self.model.name, f.name),
                    ))
                }
            }
            return Ok(());
        }
        self.set_value(f.name, v);
        Ok(())
    }

    /// A deferred field: one query for this instance (`refresh_from_db(fields=[...])`).
    pub(crate) fn load_deferred(&self, rt: &Rt, field: &'static Field) -> SResult<Val> {
        let pk = self.pk_value().ok_or_else(|| err(ErrorKind::ValueError, "instance has no primary key"))?;
        let qs = QuerySetObj::for_model(self.model);
        let mut q = qs.query.clone();
        q.add_immediate_loading(&[field.name.to_string()]);
        q.add_q(rt, &super::expr::QTree::Leaf(Rc::from("pk"), super::expr::FilterValue::Val(Val::Int(pk))))?;
        q.clear_ordering(true, true);
        q.set_limits(None, Some(super::model::MAX_GET_RESULTS));
        let rows = super::fetch::run_select(rt, &q, &super::model::RowKind::Models, None)?;
        let row = rows.first().cloned().ok_or_else(|| exc(&format!("{}.DoesNotExist", self.model.name), format!("{} matching query does not exist.", self.model.name)))?;
        let v = row.as_obj::<Instance>().and_then(|i| i.get_loaded(field.name)).unwrap_or(Val::None);
        self.set_value(field.name, v.clone());
        Ok(v)
    }

    /// `instance.name`.
    pub fn attr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        if let Some(v) = self.extra.borrow().get(name) {
            return Ok(v.clone());
        }
        let model = self.model;
        if name == "pk" {
            return Ok(self.get_loaded("id").unwrap_or(Val::None));
        }
        if let Some(field) = model.fields.iter().find(|f| f.name == name) {
            if let FieldKind::ForeignKey(to) = field.kind {
                if let Some(v) = self.fk_cache.borrow().get(name) {
                    return Ok(v.clone());
                }
                let id = match self.get_loaded(field.name) {
                    Some(v) => v,
                    None => self.load_deferred(rt, field)?,
                };
                let v = match id {
                    Val::None => Val::None,
                    id => {
                        let to = schema::model(to).expect("schema is consistent");
                        let path = {
                            let p = self.path.borrow();
                            if p.is_empty() { field.name.to_string() } else { format!("{p}__{}", field.name) }
                        };
                        let lazy = LazyLoad { path: path.clone(), kind: "forward".into(), model: to.name.into() };
                        let found = rt.lazy_load(lazy, || super::queryset::get_by_pk(rt, to, &id))?;
                        if let Some(i) = found.as_obj::<Instance>() {
                            *i.path.borrow_mut() = path;
                        }
                        found
                    }
                };
                self.fk_cache.borrow_mut().insert(field.name, v.clone());
                return Ok(v);
            }
            return match self.get_loaded(name) {
                Some(v) => Ok(v),
                None => self.load_deferred(rt, field),
            };
        }
        if let Some(field) = model.fields.iter().find(|f| f.is_relation() && f.column == name) {
            return match self.get_loaded(field.name) {
                Some(v) => Ok(v),
                None => self.load_deferred(rt, field),
            };
        }
        if let Some(rel) = model.relation(name) {
            return Ok(Val::obj(super::model::related_manager(self.rc(), name, rel)?));
        }
        if let Some(field) = name.strip_prefix("get_").and_then(|n| n.strip_suffix("_display")).and_then(|n| model.field(n)) {
            if !field.choices.is_empty() {
                let me = self.rc();
                return Ok(NativeFn::val(name, move |_rt, _a, _k| {
                    let v = me.get_loaded(field.name).unwrap_or(Val::None);
                    let s = v.as_str().map(str::to_string);
                    Ok(match s.and_then(|s| field.choices.iter().find(|(k, _)| *k == s).map(|(_, l)| l.to_string())) {
                        Some(label) => Val::str(label),
                        None => v,
                    })
                }));
            }
        }
        if let Some((_, field)) = model.choices_classes.iter().find(|(c, _)| *c == name) {
            let f = model.field(field).expect("schema");
            return Ok(Val::obj(ChoicesClass { name: format!("{}.{name}", model.name), field: f }));
        }
        let me = self.rc();
        match name {
            "save" => Ok(NativeFn::altering("save", move |rt, args, kwargs| super::write::save(rt, &me, args, kwargs))),
            "delete" => Ok(NativeFn::altering("delete", move |rt, args, kwargs| super::write::delete_instance(rt, &me, args, kwargs))),
            "refresh_from_db" => Ok(NativeFn::altering("refresh_from_db", move |rt, args, kwargs| {
                let fields = kwargs.iter().find(|(k, _)| k == "fields").map(|(_, v)| v.clone()).or_else(|| args.first().cloned());
                me.refresh_from_db(rt, fields)?;
                Ok(Val::None)
            })),
            "full_clean" | "clean" | "clean_fields" => Ok(NativeFn::val(name, |_, _, _| Ok(Val::None))),
            "serializable_value" => Ok(NativeFn::val(name, move |rt, args, _| {
                let n = args.first().and_then(|a| a.as_str()).unwrap_or("").to_string();
                me.attr(rt, &n)
            })),
            "_state" => Ok(Val::obj(StateObj(me))),
            "_meta" => Ok(Val::obj(Options(model))),
            "DoesNotExist" | "MultipleObjectsReturned" | "objects" => ModelClass(model).getattr(rt, name),
            "__class__" => Ok(Val::obj(ModelClass(model))),
            _ if model.name == "User" => user_attr(rt, &me, name),
            _ => Err(no_attr(model.name, name)),
        }
    }

    /// `instance.name = value`.
    pub fn set_attr(&self, rt: &Rt, name: &str, v: Val) -> SResult<()> {
        let model = self.model;
        let name = if name == "pk" { "id" } else { name };
        if let Some(f) = model.fields.iter().find(|f| f.name == name) {
            return self.assign_field(rt, f, v);
        }
        if let Some(f) = model.fields.iter().find(|f| f.is_relation() && f.column == name) {
            let changed = !self.get_loaded(f.name).is_some_and(|old| old.py_eq(&v));
            self.set_value(f.name, v);
            if changed {
                self.fk_cache.borrow_mut().remove(f.name);
            }
            return Ok(());
        }
        if model.m2m.iter().any(|m| m.name == name) {
            return Err(err(ErrorKind::TypeError, format!("Direct assignment to the forward side of a many-to-many set is prohibited. Use {name}.set() instead.")));
        }
        if model.relation(name).is_some() {
            return Err(err(ErrorKind::TypeError, format!("Direct assignment to the reverse side of a related set is prohibited. Use {name}.set() instead.")));
        }
        self.extra.borrow_mut().insert(name.to_string(), v);
        Ok(())
    }

    pub fn refresh_from_db(&self, rt: &Rt, fields: Option<Val>) -> SResult<()> {
        let pk = self.pk_value().ok_or_else(|| err(ErrorKind::ValueError, "Cannot refresh an instance without a primary key"))?;
        let mut q = QuerySetObj::for_model(self.model).query.clone();
        let only: Option<Vec<String>> = match &fields {
            None | Some(Val::None) => None,
            Some(v) => Some(v.iterate(rt)?.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect()),
        };
        if let Some(names) = &only {
            q.add_immediate_loading(names);
        } else {
            // Deferred fields stay deferred.
            let deferred: Vec<String> = self.model.fields.iter().enumerate().filter(|(i, _)| self.values.borrow()[*i].is_none()).map(|(_, f)| f.name.to_string()).collect();
            if !deferred.is_empty() {
                q.add_deferred_loading(&deferred);
            }
        }
        q.add_q(rt, &super::expr::QTree::Leaf(Rc::from("pk"), super::expr::FilterValue::Val(Val::Int(pk))))?;
        q.clear_ordering(true, true);
        q.set_limits(None, Some(super::model::MAX_GET_RESULTS));
        let rows = super::fetch::run_select(rt, &q, &super::model::RowKind::Models, None)?;
        let fresh = rows.first().and_then(|r| r.as_obj::<Instance>().map(|i| i.rc())).ok_or_else(|| {
            exc(&format!("{}.DoesNotExist", self.model.name), format!("{} matching query does not exist.", self.model.name))
        })?;
        for (i, f) in self.model.fields.iter().enumerate() {
            if let Some(v) = fresh.values.borrow()[i].clone() {
                let old = self.values.borrow()[i].clone();
                self.values.borrow_mut()[i] = Some(v.clone());
                if f.is_relation() && old.is_some_and(|o| !o.py_eq(&v)) {
                    self.fk_cache.borrow_mut().remove(f.name);
                }
            }
        }
        if only.is_none() {
            self.fk_cache.borrow_mut().clear();
            self.prefetched.borrow_mut().clear();
        }
        Ok(())
    }

}

impl Object for Instance {
    fn class_value(&self) -> Option<Val> {
        Some(Val::obj(ModelClass(self.model)))
    }
    fn type_name(&self) -> String {
        self.model.name.to_string()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn class_names(&self) -> Vec<String> {
        vec![self.model.name.to_string(), "Model".into(), "object".into()]
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        self.attr(rt, name)
    }
    fn setattr(&self, rt: &Rt, name: &str, v: Val) -> SResult<()> {
        self.set_attr(rt, name, v)
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        match name {
            "save" => super::write::save(rt, &self.rc(), args, kwargs),
            "delete" => super::write::delete_instance(rt, &self.rc(), args, kwargs),
            _ => {
                let f = self.attr(rt, name)?;
                crate::value::call_value(rt, &f, args, kwargs)
            }
        }
    }
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        if name.starts_with('_') {
            return Ok(None);
        }
        match self.attr(rt, name) {
            Ok(Val::Obj(o)) if o.as_any().is::<super::model::QuerySetObj>() => Ok(Some(Val::Obj(o))),
            Ok(Val::Obj(o)) if o.is_callable() => {
                if o.template_alters_data() {
                    return Ok(None);
                }
                o.call(rt, vec![], vec![]).map(Some)
            }
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind == ErrorKind::AttributeError => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn to_str(&self, rt: &Rt) -> SResult<String> {
        match self.model.str_field {
            Some(f) => self.attr(rt, f)?.to_str(rt),
            None => Ok(format!("{} object ({})", self.model.name, self.pk_value().map(|p| p.to_string()).unwrap_or("None".into()))),
        }
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        Ok(format!("<{}: {}>", self.model.name, self.to_str(rt)?))
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        let Some(o) = other.as_obj::<Instance>() else { return Some(false) };
        if o.model.name != self.model.name {
            return Some(false);
        }
        match (self.pk_value(), o.pk_value()) {
            (Some(a), Some(b)) => Some(a == b),
            _ => Some(std::ptr::eq(self, o)),
        }
    }
    fn hash_key(&self) -> SResult<HashKey> {
        match self.pk_value() {
            Some(pk) => Ok(HashKey::Model(self.model.name.to_string(), pk)),
            None => Err(err(ErrorKind::TypeError, "Model instances without primary key value are unhashable")),
        }
    }
    fn pk(&self) -> Option<i64> {
        self.pk_value()
    }
    fn pickle(&self, _rt: &Rt) -> Option<SResult<Val>> {
        // A pickled instance keeps its fields, its cached relations and prefetches.
        let copy = Instance::new(self.model);
        *copy.values.borrow_mut() = self.values.borrow().clone();
        *copy.fk_cache.borrow_mut() = self.fk_cache.borrow().clone();
        *copy.prefetched.borrow_mut() = self.prefetched.borrow().clone();
        *copy.prefetched_order.borrow_mut() = self.prefetched_order.borrow().clone();
        *copy.extra.borrow_mut() = self.extra.borrow().clone();
        copy.adding.set(self.adding.get());
        Some(Ok(Val::Obj(copy)))
    }
}

/// `AbstractBaseUser` / `AbstractUser` / `PermissionsMixin` extras of `User`.
fn user_attr(rt: &Rt, me: &Rc<Instance>, name: &str) -> SResult<Val> {
    let me = me.clone();
    let text = move |rt: &Rt, n: &str| -> SResult<String> { me.attr(rt, n)?.to_str(rt) };
    Ok(match name {
        "is_authenticated" => Val::Bool(true),
        "is_anonymous" => Val::Bool(false),
        "USERNAME_FIELD" => Val::str("username"),
        "EMAIL_FIELD" => Val::str("email"),
        "get_username" => NativeFn::val("get_username", move |rt, _, _| Ok(Val::str(text(rt, "username")?))),
        "get_full_name" => NativeFn::val("get_full_name", move |rt, _, _| {
            let full = format!("{} {}", text(rt, "first_name")?, text(rt, "last_name")?);
            Ok(Val::str(crate::pyfmt::py_strip(&full)))
        }),
        "get_short_name" => NativeFn::val("get_short_name", move |rt, _, _| Ok(Val::str(text(rt, "first_name")?))),
        "natural_key" => NativeFn::val("natural_key", move |rt, _, _| Ok(Val::tuple(vec![Val::str(text(rt, "username")?)]))),
        "has_usable_password" => NativeFn::val("has_usable_password", |_, _, _| Ok(Val::Bool(false))),
        "set_password" | "check_password" | "set_unusable_password" => {
            return Err(crate::error::err(ErrorKind::NotSupported, format!("{name}() hashes passwords, which the sandbox does not do")));
        }
        _ => {
            let _ = rt;
            return Err(no_attr("User", name));
        }
    })
}

/// `instance._state`.
struct StateObj(Rc<Instance>);

impl Object for StateObj {
    fn type_name(&self) -> String {
        "ModelState".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "adding" => Ok(Val::Bool(self.0.adding.get())),
            "db" => Ok(if self.0.adding.get() { Val::None } else { Val::str("default") }),
            "fields_cache" => Ok(Val::str_dict(self.0.fk_cache.borrow().iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<Vec<_>>())),
            _ => Err(no_attr("ModelState", name)),
        }
    }
}

