//! Django's `SQLCompiler` for SQLite: SELECT lists (with `select_related` columns), ORDER BY
//! (model default ordering, positional references to selected aliases), GROUP BY, LIMIT/OFFSET,
//! the aggregation subquery (`SELECT COUNT(*) FROM (...) subquery`), and INSERT/UPDATE/DELETE.
//! Follows `django/db/models/sql/compiler.py` (5.2).

use indexmap::IndexMap;

pub use super::compiled::{Compiled, KlassInfo, Rebound};

use super::expr::*;
use super::expr::{GroupBy, JoinErr, OrderItem, Query, SelectRelated, Selected, Table};
use crate::engine::SqlValue;
use crate::error::{err, ErrorKind, SResult, SandboxError};
use crate::runtime::Rt;
use crate::schema::{self, Field, FieldKind, Model};

/// Why an expression produced no SQL: Django's `EmptyResultSet` / `FullResultSet`, or an error.
pub enum CErr {
    Empty,
    Full,
    Err(SandboxError),
}

impl From<SandboxError> for CErr {
    fn from(e: SandboxError) -> Self {
        CErr::Err(e)
    }
}

type CResult<T> = Result<T, CErr>;

pub fn qn(name: &str) -> String {
    format!("\"{name}\"")
}

pub struct Compiler<'a> {
    rt: &'a Rt,
    pub q: Query,
    /// Compile Django's SQLite functions as built-ins the engine runs.
    pub(crate) engine_mode: bool,
    pub(crate) uses_django_functions: bool,
    meta_ordering: bool,
    /// Compiling HAVING, ORDER BY or a lookup's left-hand side, whose expressions Django
    /// resolves a second time: an aggregate's `filter=` WhereNode is then marked resolved and
    /// wraps itself in parentheses (`COUNT(…) FILTER (WHERE ("x" = 13)) = 1`).
    resolved_filters: bool,
    /// Compiling a lookup's left-hand side (an annotation filtered on): a When's condition,
    /// resolved once when annotated, is resolved again and parenthesized
    /// (`WHERE CASE WHEN ("status" = 'draft') THEN 1 ELSE 0 END`). An ORDER BY expression is
    /// resolved there for the first time, so its Whens are not.
    resolved_whens: bool,
}

struct SelItem {
    expr: SqlExpr,
    sql: String,
    params: Vec<SqlValue>,
    alias: Option<String>,
}

impl<'a> Compiler<'a> {
    pub fn new(rt: &'a Rt, q: &Query) -> Compiler<'a> {
        Compiler { rt, q: q.clone(), engine_mode: false, uses_django_functions: false, meta_ordering: false, resolved_filters: false, resolved_whens: false }
    }

    fn quote_name_unless_alias(&self, name: &str) -> String {
        if (self.q.alias_map.contains_key(name) && !self.q.table_map.contains_key(name))
            || (self.q.external_aliases.get(name).copied().unwrap_or(false) && !self.q.table_map.contains_key(name))
        {
            return name.to_string();
        }
        qn(name)
    }

    // ------------------------------------------------------------ expressions

    /// [`Self::compile_expr`] with `resolved_filters` and `resolved_whens` set for it.
    fn compile_expr_resolved(&mut self, e: &SqlExpr, filters: bool, whens: bool) -> CResult<(String, Vec<SqlValue>)> {
        let before = (std::mem::replace(&mut self.resolved_filters, filters), std::mem::replace(&mut self.resolved_whens, whens));
        let compiled = self.compile_expr(e);
        (self.resolved_filters, self.resolved_whens) = before;
        compiled
    }

    pub fn compile_expr(&mut self, e: &SqlExpr) -> CResult<(String, Vec<SqlValue>)> {
        Ok(match e {
            SqlExpr::Col { alias, target } => (format!("{}.{}", self.quote_name_unless_alias(alias), qn(target.column)), vec![]),
            SqlExpr::Value(SqlValue::Null) => ("NULL".into(), vec![]),
            SqlExpr::Value(v) => ("%s".into(), vec![v.clone()]),
            SqlExpr::Typed(e, _) => return self.compile_expr(e),
            SqlExpr::Raw(s) => (s.to_string(), vec![]),
            SqlExpr::Extra(s) => (format!("({s})"), vec![]),
            SqlExpr::Ref(name, _) => (qn(name), vec![]),
            SqlExpr::Aggregate(a) => {
                let (arg, mut params) = match &a.arg {
                    None => ("*".to_string(), vec![]),
                    Some(x) => self.compile_expr(x)?,
                };
                let distinct = if a.distinct { "DISTINCT " } else { "" };
                let base = format!("{}({distinct}{arg})", a.func);
                if let Some(f) = &a.filter {
                    let resolved = self.resolved_filters;
                    match self.compile_where_node(f, resolved) {
                        Ok((fsql, fparams)) => {
                            params.extend(fparams);
                            return Ok((format!("{base} FILTER (WHERE {fsql})"), params));
                        }
                        Err(CErr::Full) => {}
                        Err(e) => return Err(e),
                    }
                }
                (base, params)
            }
            SqlExpr::Combined(a, op, b) => {
                let (l, mut p) = self.compile_expr(a)?;
                let (r, rp) = self.compile_expr(b)?;
                p.extend(rp);
                match op {
                    ArithOp::Pow => (format!("(POWER({l},{r}))"), p),
                    _ => (format!("({l} {} {r})", op.sql()), p),
                }
            }
            SqlExpr::Exists(sub, negated) => {
                let c = match compile_select_query(self.rt, sub, false, self.engine_mode) {
                    // Exists.as_sql: a subquery that matches nothing is Value(False) (`0`), and
                    // `~Exists(…)` is `NOT 0` (a query is still sent, as Django sends it).
                    Err(CErr::Empty) => return Ok((if *negated { "NOT %s" } else { "%s" }.to_string(), vec![SqlValue::Int(0)])),
                    other => other?,
                };
                self.uses_django_functions |= c.engine.is_some();
                let sql = strip_outer_parens(&c.sql);
                let s = format!("EXISTS({sql})");
                (if *negated { format!("NOT {s}") } else { s }, c.params)
            }
            SqlExpr::Subquery(sub) => {
                let c = compile_select_query(self.rt, sub, false, self.engine_mode)?;
                self.uses_django_functions |= c.engine.is_some();
                let sql = if c.sql.starts_with('(') { c.sql } else { format!("({})", c.sql) };
                (sql, c.params)
            }
            SqlExpr::OuterRef(name) => {
                return Err(CErr::Err(err(
                    ErrorKind::ValueError,
                    format!("This queryset contains a reference to an outer query (OuterRef('{name}')) and may only be used in a subquery."),
                )))
            }
            SqlExpr::Extract(part, inner) => {
                self.uses_django_functions = true;
                let (s, mut p) = self.compile_expr(inner)?;
                if self.engine_mode {
                    let expr = match *part {
                        "year" => format!("CAST(STRFTIME(%s, {s}) AS INTEGER)"),
                        "iso_year" => format!("CAST(STRFTIME(%s, {s}) AS INTEGER)"),
                        "month" | "day" | "hour" | "minute" | "second" => format!("CAST(STRFTIME(%s, {s}) AS INTEGER)"),
                        "week_day" => format!("(CAST(STRFTIME(%s, {s}) AS INTEGER) + 1)"),
                        "iso_week_day" => format!("(((CAST(STRFTIME(%s, {s}) AS INTEGER) + 6) % 7) + 1)"),
                        "quarter" => format!("((CAST(STRFTIME(%s, {s}) AS INTEGER) + 2) / 3)"),
                        _ => format!("CAST(STRFTIME(%s, {s}) AS INTEGER)"),
                    };
                    let fmt = match *part {
                        "year" => "%Y",
                        "iso_year" => "%G",
                        "month" | "quarter" => "%m",
                        "day" => "%d",
                        "hour" => "%H",
                        "minute" => "%M",
                        "second" => "%S",
                        "week_day" | "iso_week_day" => "%w",
                        _ => "%W",
                    };
                    let mut params = vec![SqlValue::Text(fmt.into())];
                    params.extend(p);
                    return Ok((expr, params));
                }
                let mut params = vec![SqlValue::Text(part.to_string())];
                params.append(&mut p);
                params.push(SqlValue::Null);
                params.push(SqlValue::Null);
                (format!("django_datetime_extract(%s, {s}, %s, %s)"), params)
            }
            SqlExpr::CastDate(inner) | SqlExpr::CastTime(inner) => {
                self.uses_django_functions = true;
                let date = matches!(e, SqlExpr::CastDate(_));
                let (s, mut p) = self.compile_expr(inner)?;
                if self.engine_mode {
                    return Ok((if date { format!("DATE({s})") } else { format!("TIME({s})") }, p));
                }
                p.push(SqlValue::Null);
                p.push(SqlValue::Null);
                (format!("{}({s}, %s, %s)", if date { "django_datetime_cast_date" } else { "django_datetime_cast_time" }), p)
            }
            SqlExpr::Func(name, args) if name.starts_with("TRUNC_") => {
                // Trunc on SQLite: Django's `django_datetime_trunc(kind, value, tz, conn_tz)`;
                // the engine gets the same truncation with STRFTIME.
                self.uses_django_functions = true;
                let date = name.starts_with("TRUNC_DATE_");
                let kind = if date { &name["TRUNC_DATE_".len()..] } else { &name["TRUNC_".len()..] };
                let (s, mut p) = self.compile_expr(&args[0])?;
                if self.engine_mode {
                    let sql = match kind {
                        "year" => format!("STRFTIME('%Y-01-01 00:00:00', {s})"),
                        "quarter" => format!("(STRFTIME('%Y', {s}) || '-' || SUBSTR('0' || ((((CAST(STRFTIME('%m', {s}) AS INTEGER) - 1) / 3) * 3) + 1), -2) || '-01 00:00:00')"),
                        "month" => format!("STRFTIME('%Y-%m-01 00:00:00', {s})"),
                        "week" => format!("(DATE(JULIANDAY(DATE({s})) - ((CAST(STRFTIME('%w', {s}) AS INTEGER) + 6) % 7)) || ' 00:00:00')"),
                        "day" => format!("STRFTIME('%Y-%m-%d 00:00:00', {s})"),
                        "hour" => format!("STRFTIME('%Y-%m-%d %H:00:00', {s})"),
                        "minute" => format!("STRFTIME('%Y-%m-%d %H:%M:00', {s})"),
                        _ => format!("STRFTIME('%Y-%m-%d %H:%M:%S', {s})"),
                    };
                    // `dates()`: the date part only.
                    let sql = if date { format!("SUBSTR({sql}, 1, 10)") } else { sql };
                    // The value's own parameters, once per use of it.
                    let uses = sql.matches(s.as_str()).count().max(1);
                    let mut params = Vec::new();
                    for _ in 0..uses {
                        params.extend(p.iter().cloned());
                    }
                    return Ok((sql, params));
                }
                let mut params = vec![SqlValue::Text(kind.to_string())];
                params.append(&mut p);
                params.push(SqlValue::Null);
                params.push(SqlValue::Null);
                (format!("{}(%s, {s}, %s, %s)", if date { "django_date_trunc" } else { "django_datetime_trunc" }), params)
            }
            SqlExpr::Func("CONCATPAIR", args) => {
                // ConcatPair.as_sqlite: each side coalesced to '' and joined with ||.
                let mut parts = Vec::new();
                let mut params = Vec::new();
                for a in args {
                    let (s, p) = self.compile_expr(a)?;
                    parts.push(format!("COALESCE({s}, '')"));
                    params.extend(p);
                }
                (format!("({})", parts.join(" || ")), params)
            }
            SqlExpr::Func(name, args) => {
                let mut parts = Vec::new();
                let mut params = Vec::new();
                for a in args {
                    let (s, p) = self.compile_expr(a)?;
                    parts.push(s);
                    params.extend(p);
                }
                // Greatest/Least are SQLite's scalar MAX/MIN.
                let sql_name = match *name {
                    "GREATEST" => "MAX",
                    "LEAST" => "MIN",
                    n => n,
                };
                (format!("{sql_name}({})", parts.join(", ")), params)
            }
            SqlExpr::Cast(e, db_type) => {
                let (s, p) = self.compile_expr(e)?;
                (format!("CAST({s} AS {db_type})"), p)
            }
            // A Q as a value: its WHERE text (a second resolution wraps it in parentheses, as
            // a When's condition); a condition that matches nothing or everything is the
            // select list's `0` / `1`.
            SqlExpr::Condition(w) => match self.compile_where_node(w, self.resolved_whens) {
                Ok(compiled) => compiled,
                Err(CErr::Empty) => ("0".into(), vec![]),
                Err(CErr::Full) => ("1".into(), vec![]),
                Err(e) => return Err(e),
            },
            SqlExpr::Case(whens, default) => {
                let mut sql = String::from("CASE");
                let mut params = Vec::new();
                for (cond, val) in whens {
                    // A When's condition resolved a second time wraps itself in parentheses.
                    let resolved = self.resolved_whens;
                    match self.compile_where_node(cond, resolved) {
                        Ok((c, cp)) => {
                            let (v, vp) = self.compile_expr(val)?;
                            sql.push_str(&format!(" WHEN {c} THEN {v}"));
                            params.extend(cp);
                            params.extend(vp);
                        }
                        Err(CErr::Empty) => continue,
                        Err(CErr::Full) => {
                            let (v, vp) = self.compile_expr(val)?;
                            sql.push_str(&format!(" WHEN 1 THEN {v}"));
                            params.extend(vp);
                        }
                        Err(e) => return Err(e),
                    }
                }
                let (d, dp) = self.compile_expr(default)?;
                if sql == "CASE" {
                    return Ok((d, dp));
                }
                sql.push_str(&format!(" ELSE {d} END"));
                params.extend(dp);
                (sql, params)
            }
        })
    }

    fn compile_rhs_expr(&mut self, e: &SqlExpr) -> CResult<(String, Vec<SqlValue>)> {
        let (s, p) = self.compile_expr(e)?;
        // Lookups wrap expression right-hand sides in parentheses (not twice).
        Ok(if s.starts_with('(') { (s, p) } else { (format!("({s})"), p) })
    }

    fn compile_lookup(&mut self, l: &Lookup) -> CResult<(String, Vec<SqlValue>)> {
        // Lookup.process_lhs resolves the left-hand side again before compiling it.
        let (lhs, mut params) = self.compile_expr_resolved(&l.lhs, true, true)?;
        // An Exists condition compared with True is just the condition.
        let op = |name: &str| -> &'static str {
            match name {
                "exact" => "=",
                "gt" => ">",
                "gte" => ">=",
                "lt" => "<",
                "lte" => "<=",
                _ => "LIKE",
            }
        };
        match (l.name, &l.rhs) {
            ("isnull", Rhs::Bool(b)) => Ok((format!("{lhs} IS {}NULL", if *b { "" } else { "NOT " }), params)),
            ("in", Rhs::Values(vals)) => {
                if vals.is_empty() {
                    return Err(CErr::Empty);
                }
                params.extend(vals.iter().cloned());
                Ok((format!("{lhs} IN ({})", vec!["%s"; vals.len()].join(", ")), params))
            }
            ("in", Rhs::Expr(e)) => {
                let (s, p) = self.compile_expr(e)?;
                params.extend(p);
                let s = if s.starts_with('(') { s } else { format!("({s})") };
                Ok((format!("{lhs} IN {s}"), params))
            }
            ("range", Rhs::Values(vals)) => {
                params.extend(vals.iter().cloned());
                Ok((format!("{lhs} BETWEEN %s AND %s"), params))
            }
            ("regex", Rhs::Value(v)) => {
                params.push(v.clone());
                Ok((format!("{lhs} REGEXP %s"), params))
            }
            ("iregex", Rhs::Value(v)) => {
                params.push(v.clone());
                Ok((format!("{lhs} REGEXP '(?i)' || %s"), params))
            }
            (name, Rhs::Value(v)) => {
                params.push(v.clone());
                if matches!(name, "exact" | "gt" | "gte" | "lt" | "lte") {
                    Ok((format!("{lhs} {} %s", op(name)), params))
                } else {
                    Ok((format!("{lhs} LIKE %s ESCAPE '\\'"), params))
                }
            }
            (name, Rhs::Expr(e)) => {
                let (r, p) = self.compile_rhs_expr(e)?;
                params.extend(p);
                if matches!(name, "exact" | "gt" | "gte" | "lt" | "lte") {
                    Ok((format!("{lhs} {} {r}", op(name)), params))
                } else {
                    Err(CErr::Err(err(ErrorKind::NotSupported, format!("the '{name}' lookup against an expression is not supported in the sandbox"))))
                }
            }
            ("exact", Rhs::Bool(b)) => Ok((if *b { lhs } else { format!("NOT {lhs}") }, params)),
            (name, Rhs::Bool(b)) => {
                params.push(SqlValue::Int(*b as i64));
                Ok((format!("{lhs} {} %s", op(name)), params))
            }
            (name, Rhs::Values(_)) => Err(CErr::Err(err(ErrorKind::ValueError, format!("the '{name}' lookup takes one value")))),
        }
    }

    /// `WhereNode.as_sql`, with Django's empty/full result logic.
    pub fn compile_where(&mut self, w: &WhereNode) -> CResult<(String, Vec<SqlValue>)> {
        self.compile_where_node(w, false)
    }

    /// As [`Self::compile_where`]; a `resolved` node (WhereNode.resolved) is parenthesized
    /// even with one condition.
    fn compile_where_node(&mut self, w: &WhereNode, resolved: bool) -> CResult<(String, Vec<SqlValue>)> {
        let (mut full_needed, mut empty_needed) = match w.connector {
            Connector::And => (w.children.len() as isize, 1isize),
            _ => (1, w.children.len() as isize),
        };
        let mut result: Vec<String> = Vec::new();
        let mut params = Vec::new();
        for c in &w.children {
            let r = match c {
                WhereChild::Node(n) => self.compile_where(n),
                WhereChild::Lookup(l) => self.compile_lookup(l),
                WhereChild::Expr(e) => self.compile_expr(e),
                WhereChild::Nothing => Err(CErr::Empty),
            };
            match r {
                Err(CErr::Empty) => empty_needed -= 1,
                Err(CErr::Full) => full_needed -= 1,
                Err(e) => return Err(e),
                Ok((sql, p)) => {
                    if sql.is_empty() {
                        full_needed -= 1;
                    } else {
                        result.push(sql);
                        params.extend(p);
                    }
                }
            }
            if empty_needed == 0 {
                return Err(if w.negated { CErr::Full } else { CErr::Empty });
            }
            if full_needed == 0 {
                return Err(if w.negated { CErr::Empty } else { CErr::Full });
            }
        }
        let conn = format!(" {} ", w.connector.sql());
        let s = result.join(&conn);
        if s.is_empty() {
            return Err(CErr::Full);
        }
        let s = if w.negated {
            format!("NOT ({s})")
        } else if result.len() > 1 || resolved {
            format!("({s})")
        } else {
            s
        };
        Ok((s, params))
    }

    // ------------------------------------------------------------ SELECT

    fn default_columns(&self, model: &'static Model, alias: &str, prefix: &str) -> Vec<(SqlExpr, &'static Field)> {
        self.q.loaded_fields(model, prefix).into_iter().map(|f| (SqlExpr::col(alias, Target::of(model, f)), f)).collect()
    }

    fn get_select(&mut self, with_col_aliases: bool) -> SResult<(Vec<SelItem>, Option<KlassInfo>, IndexMap<String, usize>)> {
        let mut select: Vec<(SqlExpr, Option<String>)> = Vec::new();
        let mut klass_info: Option<KlassInfo> = None;
        let mut col_map = IndexMap::new();
        let (cols, fields): (Vec<SqlExpr>, Vec<Option<&'static Field>>) = if self.q.default_cols {
            let alias = self.q.get_initial_alias();
            let d = self.default_columns(self.q.model, &alias, "");
            (d.iter().map(|(c, _)| c.clone()).collect(), d.iter().map(|(_, f)| Some(*f)).collect())
        } else {
            (self.q.select.clone(), vec![None; self.q.select.len()])
        };
        match self.q.selected.clone() {
            None => {
                for (alias, raw) in self.q.extra_select.clone() {
                    select.push((SqlExpr::Extra(raw), Some(alias)));
                }
                let mut kfields = Vec::new();
                for (i, c) in cols.iter().enumerate() {
                    if let Some(f) = fields[i] {
                        kfields.push((select.len(), f));
                    }
                    select.push((c.clone(), None));
                }
                if self.q.default_cols {
                    klass_info = Some(KlassInfo { model: self.q.model, fields: kfields, related: vec![], path: String::new() });
                }
                for (alias, e) in self.q.annotation_select() {
                    select.push((e, Some(alias)));
                }
            }
            Some(sel) => {
                for (alias, s) in sel {
                    match s {
                        Selected::Annotation(name) => {
                            let e = self.q.annotations.get(&name).cloned().ok_or_else(|| err(ErrorKind::FieldError, format!("Cannot resolve keyword '{name}' into field.")))?;
                            select.push((e, Some(alias)));
                        }
                        Selected::Col(i) => select.push((cols[i].clone(), Some(alias))),
                    }
                }
            }
        }
        if self.q.select_related != SelectRelated::No {
            if let Some(ki) = klass_info.as_mut() {
                let root = self.q.get_initial_alias();
                let requested = self.q.select_related.clone();
                ki.related = self.related_selections(&mut select, self.q.model, &root, 1, &requested, "")?;
            }
        }
        let mut out = Vec::with_capacity(select.len());
        let mut col_idx = 1;
        for (i, (e, alias)) in select.into_iter().enumerate() {
            // `select_format` asks each selected expression for its output field: Django's
            // "mixed types" / "Cannot infer type" errors come when the query is compiled.
            if alias.is_some() {
                super::resolve::output_class(&e)?;
            }
            let (sql, params) = match self.compile_expr(&e) {
                Ok(x) => x,
                Err(CErr::Empty) => match &e {
                    SqlExpr::Aggregate(a) if a.func == "COUNT" => ("%s".into(), vec![SqlValue::Int(0)]),
                    _ => ("NULL".into(), vec![]),
                },
                Err(CErr::Full) => ("%s".into(), vec![SqlValue::Int(1)]),
                Err(CErr::Err(e)) => return Err(e),
            };
            let alias = match alias {
                Some(a) => {
                    col_map.insert(a.clone(), i);
                    Some(a)
                }
                None if with_col_aliases => {
                    let a = format!("col{col_idx}");
                    col_idx += 1;
                    Some(a)
                }
                None => None,
            };
            out.push(SelItem { expr: e, sql, params, alias });
        }
        Ok((out, klass_info, col_map))
    }

    /// `get_related_selections`: the columns `select_related` adds, joined as Django joins them.
    fn related_selections(
        &mut self,
        select: &mut Vec<(SqlExpr, Option<String>)>,
        opts: &'static Model,
        root_alias: &str,
        depth: usize,
        requested: &SelectRelated,
        path: &str,
    ) -> SResult<Vec<(&'static Field, KlassInfo)>> {
        let mut out = Vec::new();
        let restricted = matches!(requested, SelectRelated::Fields(_));
        if !restricted && depth > self.q.max_depth {
            return Ok(out);
        }
        let choices = || {
            let c: Vec<&str> = opts.fields.iter().filter(|f| f.is_relation()).map(|f| f.name).collect();
            if c.is_empty() { "(none)".to_string() } else { c.join(", ") }
        };
        let req_tree: Vec<(String, SelectRelated)> = match requested {
            SelectRelated::Fields(t) => t.clone(),
            _ => vec![],
        };
        let mut found: Vec<&str> = Vec::new();
        for f in opts.fields {
            found.push(f.name);
            let next = req_tree.iter().find(|(n, _)| n == f.name).map(|(_, t)| t.clone());
            if restricted && !f.is_relation() && next.is_some() {
                return Err(err(ErrorKind::FieldError, format!("Non-relational field given in select_related: '{}'. Choices are: {}", f.name, choices())));
            }
            if !f.is_relation() {
                continue;
            }
            if restricted && next.is_none() {
                continue;
            }
            if !restricted && f.null {
                continue;
            }
            // select_related_descend: a relation named in select_related() but left out by
            // only()/defer() cannot be followed.
            if restricted && !self.q.relation_in_mask(path, f) {
                return Err(err(
                    ErrorKind::FieldError,
                    format!("Field {}.{} cannot be both deferred and traversed using select_related at the same time.", opts.name, f.name),
                ));
            }
            let FieldKind::ForeignKey(to) = f.kind else { continue };
            let to = schema::model(to).expect("schema is consistent");
            let joins = match self.q.setup_joins(&[f.name.to_string()], opts, root_alias, None, true) {
                Ok(i) => i.joins,
                Err(JoinErr::Err(e)) => return Err(e),
                Err(JoinErr::Multi { .. }) => continue,
            };
            let alias = joins.last().cloned().expect("joined");
            let rel_path = if path.is_empty() { f.name.to_string() } else { format!("{path}__{}", f.name) };
            let mut fields = Vec::new();
            for (c, fld) in self.default_columns(to, &alias, &rel_path) {
                fields.push((select.len(), fld));
                select.push((c, None));
            }
            let next_req = if restricted { next.unwrap_or(SelectRelated::Fields(vec![])) } else { SelectRelated::All };
            let related = self.related_selections(select, to, &alias, depth + 1, &next_req, &rel_path)?;
            out.push((f, KlassInfo { model: to, fields, related, path: rel_path }));
        }
        if restricted {
            let missing: Vec<String> = req_tree.iter().filter(|(n, _)| !found.contains(&n.as_str())).map(|(n, _)| format!("'{n}'")).collect();
            if !missing.is_empty() {
                return Err(err(ErrorKind::FieldError, format!("Invalid field name(s) given in select_related: {}. Choices are: {}", missing.join(", "), choices())));
            }
        }
        Ok(out)
    }

    /// ORDER BY terms: (expression for GROUP BY, sql, params, refers to the select list).
    fn get_order_by(&mut self, select: &[SelItem]) -> SResult<Vec<(SqlExpr, String, Vec<SqlValue>, bool)>> {
        let ordering: Vec<OrderItem> = if !self.q.default_ordering || !self.q.order_by.is_empty() {
            self.q.order_by.clone()
        } else if !self.q.model.ordering.is_empty() {
            self.meta_ordering = true;
            self.q.model.ordering.iter().map(|s| OrderItem::Name(s.to_string())).collect()
        } else {
            vec![]
        };
        let default_asc = self.q.standard_ordering;
        let mut result: Vec<(SqlExpr, String, Vec<SqlValue>, bool)> = Vec::new();
        let mut seen: Vec<(String, String)> = Vec::new();
        for item in ordering {
            let mut nulls = Nulls::Unset;
            // An annotation ordered by name (not selected) is resolved a second time there.
            let mut annotation_again = false;
            let pairs: Vec<(SqlExpr, bool, bool)> = match item {
                OrderItem::Expr(expr, desc, n) => {
                    let resolved = super::resolve::resolve_expression(self.rt, &mut self.q, &expr, true, None, false)?;
                    let desc = if default_asc { desc } else { !desc };
                    nulls = if default_asc { n } else { n.reversed() };
                    match select.iter().position(|s| s.expr == resolved) {
                        Some(p) => vec![(SqlExpr::Raw(leak_index(p + 1)), desc, true)],
                        None => vec![(resolved, desc, false)],
                    }
                }
                OrderItem::Name(field) => {
                    if field == "?" {
                        vec![(SqlExpr::Func("RANDOM", vec![]), false, false)]
                    } else {
                        let (col, desc) = match field.strip_prefix('-') {
                            Some(c) => (c.to_string(), default_asc),
                            None => (field.clone(), !default_asc),
                        };
                        if let Some(p) = select.iter().position(|s| s.alias.as_deref() == Some(col.as_str())) {
                            vec![(SqlExpr::Raw(leak_index(p + 1)), desc, true)]
                        } else if let Some(ann) = self.q.annotations.get(&col).cloned() {
                            annotation_again = true;
                            vec![(ann, desc, false)]
                        } else {
                            self.find_ordering_name(&col, desc, self.q.model, None, &mut vec![])?
                        }
                    }
                }
            };
            for (expr, desc, is_ref) in pairs {
                let compiled = self.compile_expr_resolved(&expr, !is_ref, annotation_again);
                let (sql, params) = match compiled {
                    Ok(x) => x,
                    Err(CErr::Err(e)) => return Err(e),
                    Err(_) => continue,
                };
                let key = (sql.clone(), format!("{params:?}"));
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                let dir = if desc { "DESC" } else { "ASC" };
                result.push((expr, format!("{sql} {dir}{}", nulls.sql()), params, is_ref));
            }
        }
        Ok(result)
    }

    /// `find_ordering_name`: a field path (following a related model's own ordering).
    fn find_ordering_name(&mut self, name: &str, desc: bool, opts: &'static Model, alias: Option<String>, seen: &mut Vec<String>) -> SResult<Vec<(SqlExpr, bool, bool)>> {
        let pieces: Vec<String> = name.split("__").map(str::to_string).collect();
        let alias = match alias {
            Some(a) => a,
            None => self.q.get_initial_alias(),
        };
        let info = match self.q.setup_joins(&pieces, opts, &alias, None, true) {
            Ok(i) => i,
            Err(JoinErr::Err(e)) => return Err(e),
            Err(JoinErr::Multi { .. }) => return Err(err(ErrorKind::FieldError, "invalid ordering")),
        };
        let last = pieces.last().map(String::as_str).unwrap_or("");
        let attname_used = matches!(&info.final_field, super::expr::FinalField::Field(_, f) if f.attname() == last);
        if info.final_field.is_relation() && !info.opts.ordering.is_empty() && !attname_used && name != "pk" && info.transforms.is_empty() {
            let key = info.joins.join(",");
            if seen.contains(&key) {
                return Err(err(ErrorKind::FieldError, "Infinite loop caused by ordering."));
            }
            seen.push(key);
            let mut out = Vec::new();
            for item in info.opts.ordering {
                let (n, d) = match item.strip_prefix('-') {
                    Some(n) => (n, !desc),
                    None => (*item, desc),
                };
                let full = format!("{name}__{n}");
                out.extend(self.find_ordering_name(&full, d, opts, None, seen)?);
            }
            return Ok(out);
        }
        let (targets, alias, _) = self.q.trim_joins(info.targets.clone(), info.joins.clone(), &info.path);
        let mut out = Vec::new();
        for t in targets {
            let mut e = SqlExpr::col(&alias, t);
            for tr in &info.transforms {
                e = super::lookups::apply_transform(e, tr)?;
            }
            out.push((e, desc, false));
        }
        Ok(out)
    }

    fn get_group_by(&mut self, select: &[SelItem], order_by: &[(SqlExpr, String, Vec<SqlValue>, bool)], having: Option<&WhereNode>) -> SResult<Vec<(String, Vec<SqlValue>)>> {
        let mut expressions: Vec<SqlExpr> = Vec::new();
        let mut group_by_refs: Vec<String> = Vec::new();
        let mut by_position: Vec<(SqlExpr, usize)> = Vec::new();
        match &self.q.group_by {
            GroupBy::None => return Ok(vec![]),
            GroupBy::All => {}
            GroupBy::Exprs(g) => {
                for e in g.clone() {
                    match e {
                        SqlExpr::Ref(name, src) => {
                            if !group_by_refs.contains(&name) {
                                // A selected alias is grouped by its position in SELECT.
                                if let Some(p) = select.iter().position(|s| s.alias.as_deref() == Some(name.as_str())) {
                                    by_position.push((*src.clone(), p + 1));
                                }
                                group_by_refs.push(name);
                                expressions.push(*src);
                            }
                        }
                        other @ (SqlExpr::Exists(..) | SqlExpr::Subquery(_)) => expressions.extend(other.group_by_cols()),
                        other => expressions.push(other),
                    }
                }
            }
        }
        let mut positions: Vec<(SqlExpr, usize)> = by_position;
        for (i, s) in select.iter().enumerate() {
            if s.alias.is_some() {
                positions.push((s.expr.clone(), i + 1));
            }
            if let Some(a) = &s.alias {
                if group_by_refs.contains(a) {
                    continue;
                }
            }
            expressions.extend(s.expr.group_by_cols());
        }
        if !self.meta_ordering {
            for (e, _, _, is_ref) in order_by {
                if !is_ref {
                    expressions.extend(e.group_by_cols());
                }
            }
        }
        if let Some(h) = having {
            expressions.extend(where_group_by_cols(h));
        }
        let mut result = Vec::new();
        let mut seen: Vec<(String, String)> = Vec::new();
        for e in expressions {
            let (sql, params) = match self.compile_expr(&e) {
                Ok(x) => x,
                Err(CErr::Err(x)) => return Err(x),
                Err(_) => continue,
            };
            let (sql, params) = match positions.iter().find(|(pe, _)| *pe == e) {
                Some((_, p)) => (p.to_string(), vec![]),
                None => (sql, params),
            };
            let key = (sql.clone(), format!("{params:?}"));
            if !seen.contains(&key) {
                seen.push(key);
                result.push((sql, params));
            }
        }
        Ok(result)
    }

    fn from_clause(&mut self) -> CResult<(Vec<String>, Vec<SqlValue>)> {
        let mut out = Vec::new();
        for (alias, t) in self.q.alias_map.clone() {
            if self.q.refcount(&alias) <= 0 {
                continue;
            }
            match t {
                Table::Base { table, alias } => {
                    out.push(if table == alias { qn(table) } else { format!("{} {alias}", qn(table)) });
                }
                Table::Join(j) => {
                    let alias_str = if j.alias == j.table { String::new() } else { format!(" {}", j.alias) };
                    let on = format!(
                        "{}.{} = {}.{}",
                        self.quote_name_unless_alias(&j.parent_alias),
                        qn(j.join_cols.0),
                        self.quote_name_unless_alias(&j.alias),
                        qn(j.join_cols.1)
                    );
                    out.push(format!("{} {}{alias_str} ON ({on})", j.join_type.unwrap_or(super::expr::JoinType::Inner).sql(), qn(j.table)));
                }
            }
        }
        Ok((out, vec![]))
    }

    /// `as_sql`.
    pub fn as_sql(&mut self, with_limits: bool, with_col_aliases: bool) -> CResult<Compiled> {
        if self.q.alias_map.keys().all(|a| self.q.refcount(a) == 0) {
            self.q.get_initial_alias();
        }
        if let Some(comb) = self.q.combinator.clone() {
            return self.combinator_as_sql(&comb, with_limits);
        }
        let (select, klass_info, col_map) = self.get_select(with_col_aliases)?;
        let order_by = self.get_order_by(&select)?;
        let must_group_by = self.q.group_by != GroupBy::None;
        let (where_part, having_part) = self.q.where_.split_having(must_group_by);
        // DISTINCT selects the ORDER BY columns too (`get_extra_select`).
        let mut extra_select: Vec<SelItem> = Vec::new();
        if self.q.distinct {
            for (e, sql, params, is_ref) in &order_by {
                let without = sql.rsplit_once(' ').map(|(s, _)| s.to_string()).unwrap_or(sql.clone());
                if !is_ref && !select.iter().any(|s| s.sql == without && s.params == *params) {
                    extra_select.push(SelItem { expr: e.clone(), sql: without, params: params.clone(), alias: None });
                }
            }
        }
        let all_select: Vec<&SelItem> = select.iter().chain(extra_select.iter()).collect();
        let sel_owned: Vec<SelItem> = all_select.iter().map(|s| SelItem { expr: s.expr.clone(), sql: s.sql.clone(), params: s.params.clone(), alias: s.alias.clone() }).collect();
        let group_by = self.get_group_by(&sel_owned, &order_by, having_part.as_ref())?;
        let (from, fparams) = self.from_clause()?;
        let where_sql = match &where_part {
            Some(w) => match self.compile_where(w) {
                Ok(x) => Some(x),
                Err(CErr::Full) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let having_sql = match &having_part {
            Some(h) => match {
                self.resolved_filters = true;
                let r = self.compile_where(h);
                self.resolved_filters = false;
                r
            } {
                Ok(x) => Some(x),
                Err(CErr::Full) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let mut sql = String::from("SELECT");
        let mut params: Vec<SqlValue> = Vec::new();
        if self.q.distinct {
            sql.push_str(" DISTINCT");
        }
        let mut cols = Vec::new();
        for s in &all_select {
            let c = match &s.alias {
                Some(a) => format!("{} AS {}", s.sql, qn(a)),
                None => s.sql.clone(),
            };
            params.extend(s.params.iter().cloned());
            cols.push(c);
        }
        sql.push(' ');
        sql.push_str(&cols.join(", "));
        if !from.is_empty() {
            sql.push_str(" FROM ");
            sql.push_str(&from.join(" "));
        }
        params.extend(fparams);
        if let Some((w, wp)) = where_sql {
            sql.push_str(&format!(" WHERE {w}"));
            params.extend(wp);
        }
        let mut order_by = Some(order_by);
        if !group_by.is_empty() {
            sql.push_str(" GROUP BY ");
            sql.push_str(&group_by.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(", "));
            for (_, p) in &group_by {
                params.extend(p.iter().cloned());
            }
            // Django (since 3.1) drops Meta.ordering from aggregation queries.
            if self.meta_ordering {
                order_by = None;
            }
        }
        if let Some((h, hp)) = having_sql {
            sql.push_str(&format!(" HAVING {h}"));
            params.extend(hp);
        }
        if let Some(ob) = order_by.filter(|o| !o.is_empty()) {
            sql.push_str(" ORDER BY ");
            sql.push_str(&ob.iter().map(|(_, s, _, _)| s.as_str()).collect::<Vec<_>>().join(", "));
            for (_, _, p, _) in &ob {
                params.extend(p.iter().cloned());
            }
        }
        if with_limits && self.q.is_sliced() {
            sql.push_str(&limit_offset_sql(self.q.low_mark, self.q.high_mark));
        }
        if self.q.subquery && !extra_select.is_empty() {
            let subs: Vec<String> = select
                .iter()
                .map(|s| match &s.alias {
                    Some(a) => format!("{}.{}", qn("subquery"), qn(a)),
                    None => s.sql.clone(),
                })
                .collect();
            sql = format!("SELECT {} FROM ({sql}) subquery", subs.join(", "));
        }
        if self.q.subquery {
            sql = format!("({sql})");
        }
        let n_cols = select.len();
        Ok(Compiled { sql, params, engine: None, klass_info, col_map, n_cols })
    }
}

impl Compiler<'_> {
    /// `as_sql` of a combined query (`get_combinator_sql`): each query compiled with its
    /// columns aliased and joined by the set operator — on SQLite without parentheses, so
    /// none of them may be ordered or sliced; the ordering and limits apply to the whole,
    /// the ordering naming the result's columns (`"col1" DESC`, or a position for values()).
    fn combinator_as_sql(&mut self, comb: &Combinator, with_limits: bool) -> CResult<Compiled> {
        let database_error = |m: &str| CErr::Err(crate::error::exc("DatabaseError", m));
        for part in &comb.queries {
            if part.is_sliced() {
                return Err(database_error("LIMIT/OFFSET not allowed in subqueries of compound statements."));
            }
            if !part.order_by.is_empty() || (part.default_ordering && !part.model.ordering.is_empty()) {
                return Err(database_error("ORDER BY not allowed in subqueries of compound statements."));
            }
        }
        let (select, klass_info, col_map) = self.get_select(true)?;
        let mut parts: Vec<String> = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        for part in &comb.queries {
            let mut part = part.clone();
            // A values() list chosen after combining applies to every query.
            if let (Some(sel), None) = (&self.q.selected, &part.selected) {
                let names: Vec<String> = sel.keys().cloned().collect();
                part.set_values(&names)?;
            }
            let mut pc = Compiler::new(self.rt, &part);
            pc.engine_mode = self.engine_mode;
            match pc.as_sql(true, true) {
                Ok(c) => {
                    self.uses_django_functions |= pc.uses_django_functions;
                    // SQLite takes no parentheses in a compound statement.
                    parts.push(if part.combinator.is_some() { format!("SELECT * FROM ({})", c.sql) } else { c.sql });
                    params.extend(c.params);
                }
                // A query that matches nothing is left out of a union, and of a difference
                // once there is something to take it from.
                Err(CErr::Empty) if comb.kind == "union" || (comb.kind == "difference" && !parts.is_empty()) => {}
                Err(e) => return Err(e),
            }
        }
        if parts.is_empty() {
            return Err(CErr::Empty);
        }
        let mut sql = parts.join(&format!(" {} ", comb.sql()));
        let order_by = self.get_order_by(&select)?;
        if !order_by.is_empty() {
            let mut terms = Vec::new();
            for (e, term, p, is_ref) in order_by {
                if is_ref {
                    terms.push(term);
                    params.extend(p);
                    continue;
                }
                // The combined queries' columns are named only by their aliases.
                let Some(item) = select.iter().find(|s| s.expr == e) else {
                    return Err(database_error("ORDER BY term does not match any column in the result set."));
                };
                let (expr_sql, _) = self.compile_expr(&e)?;
                let direction = term.strip_prefix(expr_sql.as_str()).unwrap_or(" ASC");
                terms.push(format!("{}{direction}", qn(item.alias.as_deref().unwrap_or_default())));
            }
            sql.push_str(" ORDER BY ");
            sql.push_str(&terms.join(", "));
        }
        if with_limits && self.q.is_sliced() {
            sql.push_str(&limit_offset_sql(self.q.low_mark, self.q.high_mark));
        }
        if self.q.subquery {
            sql = format!("({sql})");
        }
        let n_cols = select.len();
        Ok(Compiled { sql, params, engine: None, klass_info, col_map, n_cols })
    }
}

/// ` LIMIT n OFFSET m` (`limit_offset_sql`; an offset alone is `LIMIT -1 OFFSET m`), or "".
fn limit_offset_sql(low: i64, high: Option<i64>) -> String {
    let limit = match high {
        Some(h) => Some(h - low),
        None if low != 0 => Some(-1),
        None => None,
    };
    let mut parts = Vec::new();
    if let Some(l) = limit {
        if l != 0 {
            parts.push(format!("LIMIT {l}"));
        }
    }
    if low != 0 {
        parts.push(format!("OFFSET {low}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" {}", parts.join(" "))
    }
}

fn where_group_by_cols(w: &WhereNode) -> Vec<SqlExpr> {
    let mut out = Vec::new();
    for c in &w.children {
        match c {
            WhereChild::Node(n) => out.extend(where_group_by_cols(n)),
            WhereChild::Lookup(l) => {
                out.extend(l.lhs.group_by_cols());
                if let Rhs::Expr(e) = &l.rhs {
                    out.extend(e.group_by_cols());
                }
            }
            WhereChild::Expr(e) => out.extend(e.group_by_cols()),
            WhereChild::Nothing => {}
        }
    }
    out
}

/// A positional ORDER BY/GROUP BY reference (`1`).
fn leak_index(i: usize) -> &'static str {
    const N: [&str; 64] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23",
        "24", "25", "26", "27", "28", "29", "30", "31", "32", "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45",
        "46", "47", "48", "49", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "60", "61", "62", "63",
    ];
    N.get(i).copied().unwrap_or("1")
}

pub(crate) fn strip_outer_parens(s: &str) -> &str {
    if s.starts_with('(') && s.ends_with(')') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// Compiles a SELECT, and again in engine form when it uses Django's SQLite functions.
pub fn compile_select_query(rt: &Rt, q: &Query, with_col_aliases: bool, engine_mode: bool) -> CResult<Compiled> {
    let mut c = Compiler::new(rt, q);
    c.engine_mode = engine_mode;
    let mut out = c.as_sql(true, with_col_aliases)?;
    if c.uses_django_functions && !engine_mode {
        let mut e = Compiler::new(rt, q);
        e.engine_mode = true;
        let eo = e.as_sql(true, with_col_aliases)?;
        out.engine = Some((eo.sql, eo.params));
    }
    Ok(out)
}

/// Compiles `q` for fetching rows; `None` when the filter matches nothing (no query is sent).
pub fn compile_select(rt: &Rt, q: &Query) -> SResult<Option<Compiled>> {
    match compile_select_query(rt, q, false, false) {
        Ok(c) => Ok(Some(c)),
        Err(CErr::Empty) => Ok(None),
        Err(CErr::Full) => Err(err(ErrorKind::ValueError, "the query matches everything and selects nothing")),
        Err(CErr::Err(e)) => Err(e),
    }
}

// ---------------------------------------------------------------- writes

/// `SQLInsertCompiler`: one INSERT (bulk when several rows) with `RETURNING "table"."id"`.
pub fn compile_insert(model: &'static Model, fields: &[&'static Field], rows: &[Vec<SqlValue>], returning: bool) -> (String, Vec<SqlValue>) {
    let cols: Vec<String> = fields.iter().map(|f| qn(f.column)).collect();
    let mut params = Vec::new();
    let (cols_sql, values_sql) = if fields.is_empty() {
        ("(\"id\")".to_string(), vec!["(NULL)".to_string(); rows.len()])
    } else {
        let mut v = Vec::new();
        for r in rows {
            v.push(format!("({})", vec!["%s"; r.len()].join(", ")));
            params.extend(r.iter().cloned());
        }
        (format!("({})", cols.join(", ")), v)
    };
    let mut sql = format!("INSERT INTO {} {cols_sql} VALUES {}", qn(model.table), values_sql.join(", "));
    if returning {
        sql.push_str(&format!(" RETURNING {}.{}", qn(model.table), qn("id")));
    }
    (sql, params)
}

/// `SQLUpdateCompiler`: `UPDATE "t" SET "c" = %s, … WHERE …`. `values` are SQL snippets with
/// their parameters (a `%s`, `NULL`, or an expression such as `("t"."n" + %s)`).
pub fn compile_update(rt: &Rt, q: &Query, values: &[(&'static str, String, Vec<SqlValue>)]) -> SResult<Option<(String, Vec<SqlValue>)>> {
    let mut c = Compiler::new(rt, q);
    c.q.get_initial_alias();
    let table = q.model.table;
    let mut sets = Vec::new();
    let mut params = Vec::new();
    for (col, sql, p) in values {
        sets.push(format!("{} = {sql}", qn(col)));
        params.extend(p.iter().cloned());
    }
    let mut sql = format!("UPDATE {} SET {}", qn(table), sets.join(", "));
    match c.compile_where(&q.where_) {
        Ok((w, wp)) => {
            sql.push_str(&format!(" WHERE {w}"));
            params.extend(wp);
        }
        Err(CErr::Full) => {}
        Err(CErr::Empty) => return Ok(None),
        Err(CErr::Err(e)) => return Err(e),
    }
    Ok(Some((sql, params)))
}

/// Compiles an update value expression (`F("n") + 1`) against the table.
pub fn compile_update_expr(rt: &Rt, q: &Query, e: &SqlExpr) -> SResult<(String, Vec<SqlValue>)> {
    let mut c = Compiler::new(rt, q);
    match c.compile_expr(e) {
        Ok(x) => Ok(x),
        Err(e) => Err(cerr_to_err(e)),
    }
}

/// `SQLDeleteCompiler`: `DELETE FROM "t" WHERE …` for a single-table query.
pub fn compile_delete(rt: &Rt, q: &Query) -> SResult<Option<(String, Vec<SqlValue>)>> {
    let mut c = Compiler::new(rt, q);
    let mut sql = format!("DELETE FROM {}", qn(q.model.table));
    let mut params = Vec::new();
    match c.compile_where(&q.where_) {
        Ok((w, wp)) => {
            sql.push_str(&format!(" WHERE {w}"));
            params.extend(wp);
        }
        Err(CErr::Full) => {}
        Err(CErr::Empty) => return Ok(None),
        Err(CErr::Err(e)) => return Err(e),
    }
    Ok(Some((sql, params)))
}

/// Compiles a where tree alone (for `DELETE`/`UPDATE` built by hand).
pub fn compile_where_of(rt: &Rt, q: &Query) -> Result<(String, Vec<SqlValue>), CErr> {
    let mut c = Compiler::new(rt, q);
    let w = c.q.where_.clone();
    c.compile_where(&w)
}

pub fn cerr(e: CErr) -> SandboxError {
    cerr_to_err(e)
}

pub(crate) fn cerr_to_err(e: CErr) -> SandboxError {
    match e {
        CErr::Err(e) => e,
        CErr::Empty => err(ErrorKind::ValueError, "empty result"),
        CErr::Full => err(ErrorKind::ValueError, "full result"),
    }
}
