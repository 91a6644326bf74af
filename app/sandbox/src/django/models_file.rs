//! A lab's `models.py`: the learner declares indexes the Django way — `db_index=True` on a
//! field, or `Meta.indexes = [models.Index(fields=[...], name="...")]` — and the lab turns
//! them into the migrations `makemigrations` would write. The fields themselves are the
//! sample app's and stay what they are; only indexes are read from the file. Django's own
//! checks run on them (`models.E012`, `E029`/`E030`, `E033`, `E034`, `Index()`'s
//! `ValueError`s), each pointing at the spot in the file.

use std::rc::Rc;

use protocol::{IndexSpec, Migration};

use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::py::ast::{Arg, Const, Expr, ExprKind, Stmt, StmtKind};
use crate::schema::{FieldKind, Model, MODELS};

/// `Index.max_name_length`.
const MAX_INDEX_NAME: usize = 30;

/// An index as declared, with where it was declared (for messages).
struct Declared {
    model: &'static Model,
    spec: IndexSpec,
    at: usize,
}

/// Whether a lab file is a models module the lab reads indexes from.
pub fn is_models_file(name: &str) -> bool {
    name == "models.py" || name.ends_with("/models.py")
}

/// The migrations for the indexes `src` declares, after Django's checks. `extra` are indexes
/// the lab adds by toggles (they count as declared in `Meta.indexes` too, for the checks).
pub fn migrations(file: &str, src: &str, extra: &[Migration]) -> SResult<Vec<Migration>> {
    let in_file = |e: SandboxError, at: usize| e.at(src, at).in_source(file.to_string());
    let body = crate::py::parser::parse_module(src).map_err(|e| crate::py::import::syntax_error_in(e, file))?;
    let mut declared: Vec<Declared> = Vec::new();
    let mut out = Vec::new();
    for stmt in &body {
        let StmtKind::ClassDef(class) = &stmt.kind else { continue };
        // Models only (a custom QuerySet class and the like are not read).
        let is_model = class.bases.iter().any(|b| match &b.kind {
            ExprKind::Attr(base, attr, _) => &**attr == "Model" && matches!(&base.kind, ExprKind::Name(n) if &**n == "models"),
            ExprKind::Name(n) => &**n == "Model",
            _ => false,
        });
        if !is_model {
            continue;
        }
        let Some(model) = MODELS.iter().copied().find(|m| *m.name == *class.name) else {
            return Err(in_file(
                err(ErrorKind::NotSupported, format!("class {}: the lab's models are the sample app's ({}); only their indexes can change", class.name, model_list())),
                class.start,
            ));
        };
        for s in &class.body {
            match &s.kind {
                StmtKind::Assign { targets, value } => {
                    let Some(name) = single_name(targets) else { continue };
                    if let Some(f) = db_index_field(model, &name, value).map_err(|e| in_file(e, value.start))? {
                        out.push(Migration { model: model.name.to_string(), add_index: None, remove_index: None, db_index: Some(f.to_string()) });
                    }
                }
                StmtKind::ClassDef(meta) if &*meta.name == "Meta" => {
                    for m in &meta.body {
                        if let Some(list) = indexes_assignment(m) {
                            for e in list.map_err(|e| in_file(e, m.start))? {
                                let spec = index_spec(model, e).map_err(|x| in_file(x, e.start))?;
                                declared.push(Declared { model, spec, at: e.start });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // The toggles' indexes are declared in Meta.indexes too: the name checks see them all.
    let mut names: Vec<(String, &'static str)> = extra
        .iter()
        .filter_map(|m| m.add_index.as_ref().map(|i| (i.name.clone(), MODELS.iter().find(|x| x.name == m.model).map_or("", |x| x.name))))
        .collect();
    for d in &declared {
        let name = &d.spec.name;
        let label = format!("{}.{}", d.model.app_label, d.model.name);
        let check = |id: &str, message: String| in_file(exc("SystemCheckError", system_check(&label, id, &message)), d.at);
        if name.starts_with('_') || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(check("models.E033", format!("The index name '{name}' cannot start with an underscore or a number.")));
        }
        if name.chars().count() > MAX_INDEX_NAME {
            return Err(check("models.E034", format!("The index name '{name}' cannot be longer than {MAX_INDEX_NAME} characters.")));
        }
        if let Some((_, other)) = names.iter().find(|(n, _)| n == name) {
            // check_all_models: an error about no object in particular (`?:`).
            let global = |id: &str, message: String| in_file(exc("SystemCheckError", system_check("?", id, &message)), d.at);
            return Err(if *other == d.model.name {
                global("models.E029", format!("index name '{name}' is not unique for model {label}."))
            } else {
                let other = MODELS.iter().find(|m| m.name == *other).map_or(String::new(), |m| format!("{}.{}", m.app_label, m.name));
                let mut labels = [other, label.clone()];
                labels.sort();
                global("models.E030", format!("index name '{name}' is not unique among models: {}.", labels.join(", ")))
            });
        }
        names.push((name.clone(), d.model.name));
        out.push(Migration { model: d.model.name.to_string(), add_index: Some(d.spec.clone()), remove_index: None, db_index: None });
    }
    Ok(out)
}

/// Django's `SystemCheckError` text for one error.
fn system_check(label: &str, id: &str, message: &str) -> String {
    format!("System check identified some issues:\n\nERRORS:\n{label}: ({id}) {message}\n\nSystem check identified 1 issue (0 silenced).")
}

fn model_list() -> String {
    MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
}

fn single_name(targets: &[Expr]) -> Option<Rc<str>> {
    match targets {
        [Expr { kind: ExprKind::Name(n), .. }] => Some(n.clone()),
        _ => None,
    }
}

fn keyword<'a>(args: &'a [Arg], name: &str) -> Option<&'a Expr> {
    args.iter().find_map(|a| match a {
        Arg::Kw(k, v) if &**k == name => Some(v),
        _ => None,
    })
}

/// `status = models.CharField(..., db_index=True)`: the field, when the index is new (a
/// foreign key, a unique field and the primary key are indexed already).
fn db_index_field(model: &'static Model, name: &str, value: &Expr) -> SResult<Option<&'static str>> {
    let ExprKind::Call { args, .. } = &value.kind else { return Ok(None) };
    let Some(flag) = keyword(args, "db_index") else { return Ok(None) };
    let on = match &flag.kind {
        ExprKind::Const(Const::Bool(b)) => *b,
        _ => return Err(err(ErrorKind::NotSupported, "the lab reads db_index=True or db_index=False")),
    };
    let field = model.field(name).ok_or_else(|| exc("FieldDoesNotExist", format!("{} has no field named '{name}'", model.name)))?;
    let indexed_already = field.unique || field.db_index || matches!(field.kind, FieldKind::Auto | FieldKind::ForeignKey(_));
    Ok((on && !indexed_already).then_some(field.name))
}

/// `indexes = [...]` in `class Meta:` — the list's items, or why it cannot be read.
fn indexes_assignment(stmt: &Stmt) -> Option<SResult<&[Expr]>> {
    let StmtKind::Assign { targets, value } = &stmt.kind else { return None };
    if single_name(targets).as_deref() != Some("indexes") {
        return None;
    }
    Some(match &value.kind {
        ExprKind::List(items) | ExprKind::Tuple(items) => Ok(items.as_slice()),
        _ => Err(err(ErrorKind::NotSupported, "Meta.indexes: the lab reads a list of models.Index(fields=[...], name=\"...\")")),
    })
}

/// `models.Index(fields=["organization", "-created_at"], name="…")`, checked as Django's
/// `Index.__init__` and `Options` do; an index without a name is named as Django names it.
fn index_spec(model: &'static Model, e: &Expr) -> SResult<IndexSpec> {
    let not_index = || err(ErrorKind::NotSupported, "Meta.indexes: each item is models.Index(fields=[...], name=\"...\")");
    let ExprKind::Call { func, args } = &e.kind else { return Err(not_index()) };
    let is_index = match &func.kind {
        ExprKind::Attr(base, attr, _) => &**attr == "Index" && matches!(&base.kind, ExprKind::Name(n) if &**n == "models"),
        ExprKind::Name(n) => &**n == "Index",
        _ => false,
    };
    if !is_index {
        return Err(not_index());
    }
    if let Some(a) = args.iter().find(|a| !matches!(a, Arg::Kw(..))) {
        let _ = a;
        return Err(exc("TypeError", "Index.__init__() takes 1 positional argument but more were given (use fields=[...] and name=\"...\")"));
    }
    if let Some(Arg::Kw(k, _)) = args.iter().find(|a| matches!(a, Arg::Kw(k, _) if !matches!(&**k, "fields" | "name"))) {
        return Err(err(ErrorKind::NotSupported, format!("Index({k}=…): the lab reads fields= and name=")));
    }
    let fields: Vec<String> = match keyword(args, "fields").map(|f| &f.kind) {
        None => return Err(err(ErrorKind::ValueError, "At least one field or expression is required to define an index.")),
        Some(ExprKind::List(items) | ExprKind::Tuple(items)) => {
            let mut out = Vec::new();
            for it in items {
                match &it.kind {
                    ExprKind::Const(Const::Str(s)) => out.push(s.to_string()),
                    _ => return Err(err(ErrorKind::ValueError, "Index.fields must contain only strings with field names.")),
                }
            }
            out
        }
        Some(_) => return Err(err(ErrorKind::ValueError, "Index.fields must be a list or tuple.")),
    };
    if fields.is_empty() {
        return Err(err(ErrorKind::ValueError, "At least one field or expression is required to define an index."));
    }
    let named = keyword(args, "name").is_some();
    let columns: Vec<(String, bool)> = fields
        .iter()
        .map(|f| {
            let (name, desc) = match f.strip_prefix('-') {
                Some(n) => (n, true),
                None => (f.as_str(), false),
            };
            match model.field(name).or_else(|| model.field_by_attname(name)) {
                Some(field) => Ok((field.column.to_string(), desc)),
                None => Err((name.to_string(), desc)),
            }
        })
        .collect::<Result<_, _>>()
        .map_err(|(name, _)| {
            if !named {
                // Naming the index (at class creation) looks the field up first.
                return exc("FieldDoesNotExist", format!("{} has no field named '{name}'", model.name));
            }
            let label = format!("{}.{}", model.app_label, model.name);
            exc("SystemCheckError", system_check(&label, "models.E012", &format!("'indexes' refers to the nonexistent field '{name}'.")))
        })?;
    let name = match keyword(args, "name").map(|n| &n.kind) {
        Some(ExprKind::Const(Const::Str(s))) => s.to_string(),
        Some(_) => return Err(err(ErrorKind::ValueError, "Index.name must be a string")),
        None => default_name(model.table, &columns),
    };
    Ok(IndexSpec { fields, name })
}

/// `Index.set_name_with_model`: `<table[:11]>_<first column[:7]>_<md5 of table, columns, suffix>_idx`.
fn default_name(table: &str, columns: &[(String, bool)]) -> String {
    let mut data = table.to_string();
    for (c, desc) in columns {
        data += &if *desc { format!("-{c}") } else { c.clone() };
    }
    data += "idx";
    let digest = &crate::md5::hex(data.as_bytes())[..6];
    let first: String = columns.first().map(|(c, _)| c.chars().take(7).collect()).unwrap_or_default();
    let table: String = table.chars().take(11).collect();
    let name = format!("{table}_{first}_{digest}_idx");
    if name.starts_with('_') || name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("D{}", &name[1..])
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unnamed_index_is_named_as_django_names_it() {
        // Django 5.2: Index(fields=["status", "-created_at"]) on tasks.Task.
        assert_eq!(default_name("tasks_task", &[("status".into(), false), ("created_at".into(), true)]), "tasks_task_status_a96e51_idx");
        assert_eq!(default_name("tasks_task", &[("organization_id".into(), false)]), "tasks_task_organiz_105e3a_idx");
    }
}
