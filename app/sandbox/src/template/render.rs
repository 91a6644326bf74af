//! Rendering nodes: variable lookup as Django does it, autoescaping, the tags' behaviour, and
//! the query-origin / loop bookkeeping the query log needs.

use std::any::Any;
use std::collections::HashMap;
use std::rc::Rc;

use super::dateformat;
use super::context::Context;
use super::compile::Template;
use super::expr::{Arg, FilterExpr, Variable};
use super::blocks::{collect_blocks, BlockContext, BlockEntry, BlockVar};
use super::context::Env;
use super::filters::{self, escape};
use crate::py::dict_views::DictView;
use super::text::{py_float, py_int, py_title, str_of};
use super::parser::{CacheNode, Cond, CycleDef, ForNode, IfBranch, Node, Op, Tag};
use crate::error::{err, ErrorKind, SResult, SandboxError};
use crate::runtime::Rt;
use crate::pyfmt::python_str_repr;
use crate::value::{Object, PyDict, Val};

/// Node renders per template render before the sandbox stops it (runaway nested loops).
const MAX_STEPS: u64 = 2_000_000;
/// Output size cap (bytes).
const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// Most nested `{% include %}` / `{% extends %}` levels before the sandbox stops.
const MAX_TEMPLATE_NESTING: usize = 40;

pub(crate) struct Renderer<'a> {
    /// The runtime and the autoescape switch, which filters see too.
    env: Env<'a>,
    pub src: Rc<str>,
    cycle_defs: Rc<Vec<CycleDef>>,
    blocks: Option<Rc<std::cell::RefCell<BlockContext>>>,
    nesting: usize,
    /// A node rendered to a non-string (`{% filter length %}`): Django's
    /// `"".join([...])` fails only after every sibling node has rendered.
    join_error: Option<SandboxError>,
    cycle_pos: HashMap<usize, usize>,
    /// `{% ifchanged %}` state per (node, enclosing loop run).
    ifchanged: HashMap<(usize, u64), Vec<Val>>,
    ifchanged_text: HashMap<(usize, u64), String>,
    loop_runs: Vec<u64>,
    next_run: u64,
    steps: u64,
}

pub(crate) fn vdne(var: &Variable) -> SandboxError {
    crate::error::exc("VariableDoesNotExist", format!("Failed lookup for key [{}]", var.text()))
}

fn is_vdne(e: &SandboxError) -> bool {
    e.is_a("VariableDoesNotExist")
}

fn mark_safe(v: Val) -> Val {
    match v {
        Val::Str(s) => Val::SafeStr(s),
        other => other,
    }
}

fn empty_dict() -> Val {
    Val::dict(PyDict::new())
}

impl Template {
    /// Renders with `ctx` (Django's `Template.render(Context(...))`).
    pub fn render(&self, rt: &Rt, ctx: &mut Context) -> SResult<String> {
        let mut r = Renderer::new(rt, self.src.clone(), self.cycles.clone());
        let mut out = String::new();
        let depth = ctx.scopes.len();
        let res = timed(rt, self.name.as_deref(), || r.render_nodes(&self.nodes, ctx, &mut out));
        ctx.scopes.truncate(depth.max(1));
        res.map(|()| out)
    }
}

/// Runs the render of template `name`, adding its time and queries to its entry in
/// `rt.templates` (an include in a loop is one entry, rendered many times; the entry is made
/// before the render, so a page lists before its includes).
fn timed<T>(rt: &Rt, name: Option<&str>, f: impl FnOnce() -> T) -> T {
    let name = name.unwrap_or("(a template from a string)").trim_start_matches("templates/");
    let slot = {
        let mut t = rt.templates.borrow_mut();
        match t.iter().position(|e| e.name == name) {
            Some(i) => i,
            None => {
                t.push(protocol::TemplateTime { name: name.to_string(), ..Default::default() });
                t.len() - 1
            }
        }
    };
    let (start, queries) = (crate::clock::monotonic_ms(), rt.log.borrow().len());
    let out = f();
    if let Some(t) = rt.templates.borrow_mut().get_mut(slot) {
        t.renders += 1;
        t.ms += crate::clock::monotonic_ms() - start;
        t.queries += rt.log.borrow().len().saturating_sub(queries);
    }
    out
}

impl Variable {
    /// `Variable.resolve`: `Ok(None)` is Django's `VariableDoesNotExist`.
    pub(crate) fn resolve(&self, r: &mut Renderer, ctx: &Context) -> SResult<Option<Val>> {
        match self {
            Variable::Literal(v) => Ok(Some(v.clone())),
            Variable::Lookup(parts) => r.lookup(ctx, parts),
        }
    }
}

impl FilterExpr {
    /// `FilterExpression.resolve`: an invalid variable is `""` (or `None` with
    /// `ignore_failures`, as `{% if %}` and `{% for %}` ask).
    pub(crate) fn resolve(&self, r: &mut Renderer, ctx: &Context, ignore_failures: bool) -> SResult<Val> {
        let mut obj = match self.var.resolve(r, ctx)? {
            Some(v) => v,
            None if ignore_failures => Val::None,
            None => Val::str(""),
        };
        for f in &self.filters {
            let arg = match &f.arg {
                None => None,
                Some(Arg::Const(v)) => Some(v.clone()),
                Some(Arg::Var(var)) => match var.resolve(r, ctx)? {
                    Some(v) => Some(v),
                    None => return Err(vdne(var)),
                },
            };
            let safe_in = matches!(obj, Val::SafeStr(_));
            let out = filters::apply(r, f.spec, obj, arg)?;
            // Django's mark_safe() on a non-string makes it the safe string of its str().
            obj = if f.spec.is_safe && safe_in { mark_safe(super::text::py_str(r, &out)?) } else { out };
        }
        Ok(obj)
    }
}

/// The methods of `str` a template can call without arguments.
fn str_method(s: &str, name: &str) -> Option<Val> {
    let b = |x: bool| Some(Val::Bool(x));
    match name {
        "upper" => Some(Val::str(s.to_uppercase())),
        "lower" | "casefold" => Some(Val::str(s.to_lowercase())),
        "title" => Some(Val::str(py_title(s))),
        "capitalize" => {
            let mut cs = s.chars();
            Some(Val::str(match cs.next() {
                Some(c) => format!("{}{}", c.to_uppercase(), cs.as_str().to_lowercase()),
                None => String::new(),
            }))
        }
        "swapcase" => Some(Val::str(
            s.chars()
                .flat_map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<Vec<_>>()
                    } else {
                        c.to_uppercase().collect::<Vec<_>>()
                    }
                })
                .collect::<String>(),
        )),
        "strip" => Some(Val::str(super::lexer::py_strip(s))),
        "lstrip" => Some(Val::str(s.trim_start_matches(super::lexer::py_space))),
        "rstrip" => Some(Val::str(s.trim_end_matches(super::lexer::py_space))),
        "split" => Some(Val::list(s.split(super::lexer::py_space).filter(|w| !w.is_empty()).map(Val::str).collect())),
        "splitlines" => Some(Val::list(s.lines().map(Val::str).collect())),
        "isdigit" => b(!s.is_empty() && s.chars().all(|c| c.is_ascii_digit())),
        "isalpha" => b(!s.is_empty() && s.chars().all(char::is_alphabetic)),
        "isalnum" => b(!s.is_empty() && s.chars().all(char::is_alphanumeric)),
        "isspace" => b(!s.is_empty() && s.chars().all(super::lexer::py_space)),
        "isupper" => b(s.chars().any(char::is_uppercase) && !s.chars().any(char::is_lowercase)),
        "islower" => b(s.chars().any(char::is_lowercase) && !s.chars().any(char::is_uppercase)),
        _ => None,
    }
}

/// Python `==`.
pub(crate) fn py_eq(a: &Val, b: &Val) -> bool {
    a.py_eq(b)
}

fn identical(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::None, Val::None) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        // Equal ints are usually the same object in a template (one variable, or CPython's
        // small-int cache); values do not carry identity here.
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Float(x), Val::Float(y)) => x.to_bits() == y.to_bits(),
        // CPython shares "" and one-character Latin-1 strings (not SafeStrings: literals).
        (Val::Str(x), Val::Str(y)) => {
            Rc::ptr_eq(x, y) || (x == y && x.chars().count() <= 1 && x.chars().all(|c| (c as u32) < 256))
        }
        (Val::Str(x) | Val::SafeStr(x), Val::Str(y) | Val::SafeStr(y)) => Rc::ptr_eq(x, y),
        (Val::List(x), Val::List(y)) => Rc::ptr_eq(x, y),
        (Val::Tuple(x), Val::Tuple(y)) => Rc::ptr_eq(x, y),
        (Val::Dict(x), Val::Dict(y)) | (Val::Set(x), Val::Set(y)) => Rc::ptr_eq(x, y),
        (Val::Obj(x), Val::Obj(y)) => std::ptr::eq(Rc::as_ptr(x) as *const u8, Rc::as_ptr(y) as *const u8),
        _ => false,
    }
}

/// `{% regroup %}`'s `GroupedResult(grouper, list)` namedtuple.
struct GroupedResult {
    grouper: Val,
    list: Val,
}

impl Object for GroupedResult {
    fn type_name(&self) -> String {
        "GroupedResult".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "grouper" => Ok(self.grouper.clone()),
            "list" => Ok(self.list.clone()),
            _ => Err(crate::value::no_attr("GroupedResult", name)),
        }
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        Ok(Rc::new(vec![self.grouper.clone(), self.list.clone()]))
    }
    fn len(&self, _rt: &Rt) -> SResult<usize> {
        Ok(2)
    }
    fn getitem(&self, _rt: &Rt, key: &Val) -> SResult<Val> {
        match key.as_int() {
            Some(0) | Some(-2) => Ok(self.grouper.clone()),
            Some(1) | Some(-1) => Ok(self.list.clone()),
            _ => Err(err(ErrorKind::ValueError, "IndexError: tuple index out of range")),
        }
    }
    fn to_str(&self, rt: &Rt) -> SResult<String> {
        Ok(format!("GroupedResult(grouper={}, list={})", self.grouper.repr(rt)?, self.list.repr(rt)?))
    }
}

impl<'a> std::ops::Deref for Renderer<'a> {
    type Target = Env<'a>;
    fn deref(&self) -> &Env<'a> {
        &self.env
    }
}

impl std::ops::DerefMut for Renderer<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.env
    }
}

impl<'a> Renderer<'a> {
    pub(crate) fn new(rt: &'a Rt, src: Rc<str>, cycle_defs: Rc<Vec<CycleDef>>) -> Self {
        Renderer {
            env: Env { rt, autoescape: true },
            src,
            cycle_defs,
            blocks: None,
            nesting: 0,
            join_error: None,
            cycle_pos: HashMap::new(),
            ifchanged: HashMap::new(),
            ifchanged_text: HashMap::new(),
            loop_runs: Vec::new(),
            next_run: 1,
            steps: 0,
        }
    }

    fn locate(&self, e: SandboxError, off: usize) -> SandboxError {
        if e.pos.is_none() {
            e.at(&self.src, off)
        } else {
            e
        }
    }

    /// `Variable._resolve_lookup`; `Ok(None)` = invalid variable.
    pub(crate) fn lookup(&mut self, ctx: &Context, parts: &[String]) -> SResult<Option<Val>> {
        let first = parts[0].as_str();
        let mut cur = match ctx.get(first) {
            Some(v) => v,
            None => match first {
                "True" => Val::Bool(true),
                "False" => Val::Bool(false),
                "None" => Val::None,
                _ => return Ok(None),
            },
        };
        match self.call_if_callable(cur)? {
            Some(v) => cur = v,
            None => return Ok(None),
        }
        for bit in &parts[1..] {
            let from_object = matches!(cur, Val::Obj(_));
            match self.attr(&cur, bit)? {
                // An object's attribute was called already (`template_attr`).
                Some(v) if from_object => cur = v,
                Some(v) => match self.call_if_callable(v)? {
                    Some(v) => cur = v,
                    None => return Ok(None),
                },
                None => return Ok(None),
            }
        }
        Ok(Some(cur))
    }

    /// What `Variable._resolve_lookup` does with a callable it found: calls it without
    /// arguments — unless it is marked `do_not_call_in_templates` (kept as it is) or
    /// `alters_data` (invalid); one that needs arguments is invalid too.
    fn call_if_callable(&mut self, v: Val) -> SResult<Option<Val>> {
        let Val::Obj(o) = &v else { return Ok(Some(v)) };
        if !o.is_callable() {
            return Ok(Some(v));
        }
        let flag = |name: &str| crate::py::methods::getattr(self.rt, &v, name).ok().map(|f| f.truthy(self.rt).unwrap_or(false)).unwrap_or(false);
        if flag("do_not_call_in_templates") {
            return Ok(Some(v));
        }
        if o.template_alters_data() || flag("alters_data") {
            return Ok(None);
        }
        match o.call(self.rt, vec![], vec![]) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind == ErrorKind::TypeError && e.message.contains("argument") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One `.bit` of a lookup: dict key, attribute (called when a method), list index.
    fn attr(&mut self, cur: &Val, bit: &str) -> SResult<Option<Val>> {
        let index = bit.parse::<usize>().ok().filter(|_| bit.bytes().all(|b| b.is_ascii_digit()));
        Ok(match cur {
            Val::Dict(d) => {
                // Dictionary lookup first, then the dict's methods called without arguments.
                let found = d.borrow().get_str(bit);
                match found {
                    Some(v) => Some(v),
                    None => match bit {
                        "items" => Some(DictView::val("dict_items", d.borrow().items().into_iter().map(|(k, v)| Val::tuple(vec![k, v])).collect())),
                        "keys" => Some(DictView::val("dict_keys", d.borrow().keys())),
                        "values" => Some(DictView::val("dict_values", d.borrow().values())),
                        _ => match index {
                            Some(i) => d.borrow().get(&Val::Int(i as i64)).ok().flatten(),
                            None => None,
                        },
                    },
                }
            }
            Val::List(v) => index.and_then(|i| v.borrow().get(i).cloned()),
            Val::Tuple(v) => index.and_then(|i| v.get(i).cloned()),
            Val::Str(s) | Val::SafeStr(s) => match str_method(s, bit) {
                Some(v) => Some(v),
                None => index.and_then(|i| s.chars().nth(i)).map(|c| Val::str(c.to_string())),
            },
            Val::DateTime(dt) => match bit {
                "year" => Some(Val::Int(dt.year as i64)),
                "month" => Some(Val::Int(dt.month as i64)),
                "day" => Some(Val::Int(dt.day as i64)),
                "hour" => Some(Val::Int(dt.hour as i64)),
                "minute" => Some(Val::Int(dt.minute as i64)),
                "second" => Some(Val::Int(dt.second as i64)),
                "microsecond" => Some(Val::Int(dt.micro as i64)),
                "weekday" => Some(Val::Int(dt.weekday() as i64)),
                "isoweekday" => Some(Val::Int(dt.weekday() as i64 + 1)),
                "isoformat" => Some(Val::str(dateformat::format(dt, "c"))),
                _ => None,
            },
            Val::Obj(o) => {
                let silent = [ErrorKind::AttributeError, ErrorKind::DoesNotExist];
                let found = match o.template_attr(self.rt, bit) {
                    Ok(v) => v,
                    Err(e) if silent.contains(&e.kind) => None,
                    Err(e) => return Err(e),
                };
                match (found, index) {
                    (Some(v), _) => Some(v),
                    (None, Some(i)) => match o.getitem(self.rt, &Val::Int(i as i64)) {
                        Ok(v) => Some(v),
                        Err(e)
                            if matches!(
                                e.kind,
                                ErrorKind::ValueError
                                    | ErrorKind::TypeError
                                    | ErrorKind::AssertionError
                                    | ErrorKind::DoesNotExist
                                    | ErrorKind::AttributeError
                            ) =>
                        {
                            None
                        }
                        Err(e) => return Err(e),
                    },
                    (None, None) => None,
                }
            }
            _ => None,
        })
    }

    /// `render_value_in_context`: localized and (when autoescaping) escaped.
    fn render_value(&self, v: &Val) -> SResult<String> {
        Ok(match v {
            Val::SafeStr(s) => s.to_string(),
            Val::DateTime(d) => escape(&dateformat::format(d, dateformat::named_format("DATETIME_FORMAT"))),
            Val::Obj(o) if o.as_any().is::<crate::py::dates::DateObj>() => {
                let d = o.as_any().downcast_ref::<crate::py::dates::DateObj>().expect("checked");
                escape(&dateformat::format(&d.0, dateformat::named_format("DATE_FORMAT")))
            }
            Val::Float(f) => localize_float(*f),
            other => {
                let s = other.to_str(self.rt)?;
                if self.autoescape {
                    escape(&s)
                } else {
                    s
                }
            }
        })
    }

    pub(crate) fn render_nodes(&mut self, nodes: &[Node], ctx: &mut Context, out: &mut String) -> SResult<()> {
        let outer = self.join_error.take();
        let mut res = Ok(());
        for (i, n) in nodes.iter().enumerate() {
            if let Err(e) = self.step(out) {
                res = Err(e);
                break;
            }
            let before = self.join_error.is_some();
            if let Err(e) = self.render_node(n, ctx, out) {
                res = Err(e);
                break;
            }
            if !before {
                if let Some(e) = self.join_error.as_mut() {
                    e.message = e.message.replacen("sequence item 0", &format!("sequence item {i}"), 1);
                }
            }
        }
        let pending = std::mem::replace(&mut self.join_error, outer);
        res?;
        match pending {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Counts one unit of work (a node or a loop iteration) against the render's budget.
    fn step(&mut self, out: &str) -> SResult<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS || out.len() > MAX_OUTPUT {
            return Err(self.too_much_work());
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn too_much_work(&self) -> SandboxError {
        err(ErrorKind::Budget, "this template did too much work (huge or deeply nested loops); the sandbox stopped it")
    }

    /// Runs a tag's own work (resolving its expressions, sending its queries) under its label
    /// and, when a profile is armed, as its line's frame.
    fn with_origin<T>(&mut self, tag: &Tag, f: impl FnOnce(&mut Self) -> SResult<T>) -> SResult<T> {
        let rt = self.rt;
        let key = (tag.file.as_ptr() as usize, tag.line);
        rt.prof_frame(key, || (tag.file.to_string(), tag.code.to_string()), || rt.with_origin_rc(tag.label.clone(), || f(self)))
            .map_err(|e| self.locate(e, tag.off))
    }

    /// Dispatches one node. Kept small (nodes with bodies have their own functions) because
    /// rendering nested blocks recurses through here.
    fn render_node(&mut self, node: &Node, ctx: &mut Context, out: &mut String) -> SResult<()> {
        match node {
            Node::Text(t) => {
                out.push_str(t);
                Ok(())
            }
            Node::For(f) => self.render_for(f, ctx, out),
            Node::If(branches) => self.render_if(branches, ctx, out),
            Node::With { tag, assigns, body } => self.render_with(tag, assigns, body, ctx, out),
            Node::Autoescape { on, body } => {
                let old = self.autoescape;
                self.autoescape = *on;
                let res = self.render_nodes(body, ctx, out);
                self.autoescape = old;
                res
            }
            Node::Cache(c) => self.render_cache(c, ctx, out),
            Node::Spaceless(body) => {
                let mut inner = String::new();
                self.render_nodes(body, ctx, &mut inner)?;
                out.push_str(&strip_spaces_between_tags(super::lexer::py_strip(&inner)));
                Ok(())
            }
            Node::Filter { tag, expr, body } => self.render_filter(tag, expr, body, ctx, out),
            Node::IfChanged { tag, id, exprs, yes, no } => self.render_ifchanged(tag, *id, exprs, yes, no, ctx, out),
            Node::Block { name, body } => self.render_block(name, body, ctx, out),
            Node::Extends { tag, parent, nodes } => self.render_extends(tag, parent, nodes, ctx, out),
            Node::Include { tag, template, extra, only } => self.render_include(tag, template, extra, *only, ctx, out),
            other => self.render_leaf(other, ctx, out),
        }
    }

    /// A renderer for another template's nodes, sharing this one's block context.
    fn sub(&self, src: Rc<str>, cycles: Rc<Vec<CycleDef>>) -> SResult<Renderer<'a>> {
        if self.nesting >= MAX_TEMPLATE_NESTING {
            return Err(crate::error::exc("RecursionError", "maximum recursion depth exceeded while rendering included or extended templates"));
        }
        let mut r = Renderer::new(self.rt, src, cycles);
        r.autoescape = self.autoescape;
        r.blocks = self.blocks.clone();
        r.nesting = self.nesting + 1;
        Ok(r)
    }

    fn load_template(&self, name: &str) -> SResult<Rc<Template>> {
        match super::host::host(self.rt) {
            Some(h) => h.template(self.rt, name),
            None => Err(crate::error::exc("TemplateDoesNotExist", name.to_string())),
        }
    }

    fn render_block(&mut self, name: &Rc<str>, body: &Rc<Vec<Node>>, ctx: &mut Context, out: &mut String) -> SResult<()> {
        let Some(bc) = self.blocks.clone() else {
            ctx.push();
            ctx.set("block", Val::obj(BlockVar { name: name.clone(), blocks: None, ctx: None }));
            let res = self.render_nodes(body, ctx, out);
            ctx.pop();
            return res;
        };
        let entry = bc.borrow_mut().pop(name);
        let (nodes, src, cycles) = match &entry {
            Some(e) => (e.body.clone(), e.src.clone(), e.cycles.clone()),
            None => (body.clone(), self.src.clone(), self.cycle_defs.clone()),
        };
        ctx.push();
        ctx.set("block", Val::obj(BlockVar { name: name.clone(), blocks: Some(bc.clone()), ctx: Some(Rc::new(std::cell::RefCell::new(ctx.clone()))) }));
        let res = self.sub(src, cycles).and_then(|mut r| r.render_nodes(&nodes, ctx, out));
        ctx.pop();
        if let Some(e) = entry {
            bc.borrow_mut().push(name.clone(), e);
        }
        res
    }

    fn render_extends(&mut self, tag: &Tag, parent: &FilterExpr, nodes: &Rc<Vec<Node>>, ctx: &mut Context, out: &mut String) -> SResult<()> {
        let name = self.with_origin(tag, |r| {
            let v = parent.resolve(r, ctx, false)?;
            str_of(r, &v)
        })?;
        let parent_t = self.load_template(&name).map_err(|e| self.locate(e, tag.off))?;
        let bc = self.blocks.get_or_insert_with(|| Rc::new(std::cell::RefCell::new(BlockContext::default()))).clone();
        let mut mine = Vec::new();
        collect_blocks(nodes, &mut mine);
        for (n, body) in mine {
            bc.borrow_mut().add(n, BlockEntry { body, src: self.src.clone(), cycles: self.cycle_defs.clone() });
        }
        // A parent that extends nothing is the root: its blocks are the defaults.
        let root = !parent_t.nodes.iter().find(|n| !matches!(n, Node::Text(_))).is_some_and(|n| matches!(n, Node::Extends { .. }));
        if root {
            let mut theirs = Vec::new();
            collect_blocks(&parent_t.nodes, &mut theirs);
            for (n, body) in theirs {
                bc.borrow_mut().add(n, BlockEntry { body, src: parent_t.src.clone(), cycles: parent_t.cycles.clone() });
            }
        }
        let mut r = self.sub(parent_t.src.clone(), parent_t.cycles.clone())?;
        r.blocks = Some(bc);
        let name_for_err = parent_t.name.clone().unwrap_or_default();
        let rt = self.rt;
        timed(rt, parent_t.name.as_deref(), || r.render_nodes(&parent_t.nodes, ctx, out)).map_err(|e| e.in_source(name_for_err))
    }

    #[allow(clippy::too_many_arguments)]
    fn render_include(&mut self, tag: &Tag, template: &FilterExpr, extra: &[(String, FilterExpr)], only: bool, ctx: &mut Context, out: &mut String) -> SResult<()> {
        let (t, values) = self.with_origin(tag, |r| {
            let v = template.resolve(r, ctx, false)?;
            let names: Vec<String> = match &v {
                Val::List(_) | Val::Tuple(_) => v.iterate(r.rt)?.iter().map(|x| x.to_str(r.rt)).collect::<SResult<_>>()?,
                other => vec![str_of(r, other)?],
            };
            let mut found = None;
            for n in &names {
                match r.load_template(n) {
                    Ok(t) => {
                        found = Some(t);
                        break;
                    }
                    Err(e) if e.is_a("TemplateDoesNotExist") => {}
                    Err(e) => return Err(e),
                }
            }
            let t = found.ok_or_else(|| crate::error::exc("TemplateDoesNotExist", names.join(", ")))?;
            let values = extra.iter().map(|(k, e)| Ok((k.clone(), e.resolve(r, ctx, false)?))).collect::<SResult<Vec<_>>>()?;
            Ok((t, values))
        })?;
        // An included template gets its own block context (Template.render pushes a state).
        let mut r = self.sub(t.src.clone(), t.cycles.clone())?;
        r.blocks = None;
        let name_for_err = t.name.clone().unwrap_or_default();
        let rt = self.rt;
        if only {
            let mut fresh = Context::from_pairs(values);
            return timed(rt, t.name.as_deref(), || r.render_nodes(&t.nodes, &mut fresh, out)).map_err(|e| e.in_source(name_for_err));
        }
        ctx.push();
        for (k, v) in values {
            ctx.set(&k, v);
        }
        let res = timed(rt, t.name.as_deref(), || r.render_nodes(&t.nodes, ctx, out)).map_err(|e| e.in_source(name_for_err));
        ctx.pop();
        res
    }

    fn render_with(
        &mut self,
        tag: &Tag,
        assigns: &[(String, FilterExpr)],
        body: &[Node],
        ctx: &mut Context,
        out: &mut String,
    ) -> SResult<()> {
        let vals = self.with_origin(tag, |r| {
            assigns.iter().map(|(k, e)| Ok((k.clone(), e.resolve(r, ctx, false)?))).collect::<SResult<Vec<_>>>()
        })?;
        ctx.push();
        for (k, v) in vals {
            ctx.set(&k, v);
        }
        let res = self.render_nodes(body, ctx, out);
        ctx.pop();
        res
    }

    fn render_filter(
        &mut self,
        tag: &Tag,
        expr: &FilterExpr,
        body: &[Node],
        ctx: &mut Context,
        out: &mut String,
    ) -> SResult<()> {
        let mut inner = String::new();
        self.render_nodes(body, ctx, &mut inner)?;
        ctx.push();
        ctx.set("var", Val::safe(inner));
        let res = self.with_origin(tag, |r| r.filter_output(expr, ctx));
        ctx.pop();
        match res? {
            Ok(s) => out.push_str(&s),
            // The node's output joins the others with "".join(): only strings fit, and the
            // join fails after the whole node list has rendered.
            Err(type_name) => {
                if self.join_error.is_none() {
                    self.join_error = Some(err(ErrorKind::TypeError, format!("sequence item 0: expected str instance, {type_name} found")));
                }
            }
        }
        Ok(())
    }

    fn filter_output(&mut self, expr: &FilterExpr, ctx: &Context) -> SResult<Result<String, String>> {
        Ok(match expr.resolve(self, ctx, false)? {
            Val::Str(s) | Val::SafeStr(s) => Ok(s.to_string()),
            other => Err(other.type_name()),
        })
    }

    /// Nodes without a body.
    fn render_leaf(&mut self, node: &Node, ctx: &mut Context, out: &mut String) -> SResult<()> {
        match node {
            Node::Var { tag, expr } => {
                let s = self.with_origin(tag, |r| {
                    let v = expr.resolve(r, ctx, false)?;
                    r.render_value(&v)
                })?;
                out.push_str(&s);
            }
            Node::FirstOf { tag, exprs, asvar } => {
                let first = self.with_origin(tag, |r| {
                    for e in exprs {
                        let v = e.resolve(r, ctx, true)?;
                        if v.truthy(r.rt)? {
                            return r.render_value(&v);
                        }
                    }
                    Ok(String::new())
                })?;
                match asvar {
                    Some(name) => ctx.set(name, Val::safe(first)),
                    None => out.push_str(&first),
                }
            }
            Node::Cycle { tag, id } => {
                let defs = self.cycle_defs.clone();
                let Some(def) = defs.get(*id) else {
                    return Ok(());
                };
                if def.values.is_empty() {
                    return Ok(());
                }
                let pos = self.cycle_pos.entry(*id).or_insert(0);
                let which = *pos % def.values.len();
                *pos += 1;
                let s = self.with_origin(tag, |r| {
                    let v = def.values[which].resolve(r, ctx, false)?;
                    if let Some(name) = &def.name {
                        ctx.set_upward(name, v.clone());
                    }
                    r.render_value(&v)
                })?;
                if !def.silent {
                    out.push_str(&s);
                }
            }
            Node::WidthRatio { tag, val, max, width, asvar } => {
                let s = self.with_origin(tag, |r| r.widthratio(val, max, width, ctx))?;
                match asvar {
                    Some(name) => ctx.set(name, Val::str(s)),
                    None => out.push_str(&s),
                }
            }
            Node::Now { tag, fmt, asvar } => {
                let now = crate::datetime::DateTime::from_micros((crate::clock::wall_ms() * 1000.0).floor() as i64);
                let fmt = dateformat::named_format(fmt);
                let s = dateformat::format(&now, fmt);
                let _ = tag;
                match asvar {
                    Some(name) => ctx.set(name, Val::str(s)),
                    None => out.push_str(&s),
                }
            }
            Node::Url { tag, view, args, kwargs, asvar } => {
                let url = self.with_origin(tag, |r| {
                    let v = view.resolve(r, ctx, false)?;
                    let name = str_of(r, &v)?;
                    let a = args.iter().map(|e| e.resolve(r, ctx, false).and_then(|v| v.to_str(r.rt))).collect::<SResult<Vec<_>>>()?;
                    let k = kwargs.iter().map(|(n, e)| Ok((n.clone(), e.resolve(r, ctx, false)?.to_str(r.rt)?))).collect::<SResult<Vec<_>>>()?;
                    let reversed = match super::host::host(r.rt) {
                        Some(h) => h.reverse(r.rt, &name, &a, &k),
                        None => Err(crate::error::exc("NoReverseMatch", format!("Reverse for '{name}' not found. '{name}' is not a valid view function or pattern name."))),
                    };
                    match reversed {
                        Ok(u) => Ok(u),
                        Err(e) if e.is_a("NoReverseMatch") && asvar.is_some() => Ok(String::new()),
                        Err(e) => Err(e),
                    }
                })?;
                match asvar {
                    Some(n) => ctx.set(n, Val::str(url)),
                    None => out.push_str(&if self.autoescape { escape(&url) } else { url }),
                }
            }
            Node::Regroup { tag, target, key, var } => {
                let groups = self.with_origin(tag, |r| r.regroup(target, key, var, ctx))?;
                ctx.set(var, groups);
            }
            _ => {}
        }
        Ok(())
    }

    fn render_for(&mut self, f: &ForNode, ctx: &mut Context, out: &mut String) -> SResult<()> {
        let parent = ctx.get("forloop").unwrap_or_else(empty_dict);
        let items = self.with_origin(&f.tag, |r| match f.seq.resolve(r, ctx, true)? {
            Val::None => Ok(Rc::new(Vec::new())),
            v => v.iterate(r.rt),
        })?;
        if items.is_empty() {
            return self.render_nodes(&f.empty, ctx, out);
        }
        let run = self.next_run;
        self.next_run += 1;
        self.loop_runs.push(run);
        ctx.push();
        let res = self.for_body(f, &items, parent, ctx, out);
        ctx.pop();
        self.loop_runs.pop();
        res
    }

    fn for_body(
        &mut self,
        f: &ForNode,
        items: &[Val],
        parent: Val,
        ctx: &mut Context,
        out: &mut String,
    ) -> SResult<()> {
        let rt = self.rt;
        // One `forloop` dict per loop, updated in place on every pass, as Django's ForNode does
        // (a nested loop's `parentloop` is this very dict).
        let forloop = Val::str_dict([("parentloop", parent)]);
        ctx.set("forloop", forloop.clone());
        for i in 0..items.len() {
            self.step(out)?;
            let pushed = self.bind_loop_vars(f, items, i, &forloop, ctx)?;
            let res = rt.in_loop(|| self.render_nodes(&f.body, ctx, out));
            if pushed {
                ctx.pop();
            }
            res?;
        }
        Ok(())
    }

    /// Sets `forloop` and the loop variables for iteration `i`; `Ok(true)` when unpacking
    /// pushed a scope (Django's `context.update`), which the caller pops.
    #[inline(never)]
    fn bind_loop_vars(
        &mut self,
        f: &ForNode,
        items: &[Val],
        i: usize,
        forloop: &Val,
        ctx: &mut Context,
    ) -> SResult<bool> {
        let n = items.len();
        let item = if f.reversed { &items[n - 1 - i] } else { &items[i] };
        let int = |x: usize| Val::Int(x as i64);
        if let Val::Dict(d) = forloop {
            let mut d = d.borrow_mut();
            // After `parentloop`, in Django's order.
            for (at, (key, v)) in [
                ("counter0", int(i)),
                ("counter", int(i + 1)),
                ("revcounter", int(n - i)),
                ("revcounter0", int(n - i - 1)),
                ("first", Val::Bool(i == 0)),
                ("last", Val::Bool(i == n - 1)),
            ]
            .into_iter()
            .enumerate()
            {
                d.set_str_at(at + 1, key, v);
            }
        }
        if f.vars.len() == 1 {
            ctx.set(&f.vars[0], item.clone());
            return Ok(false);
        }
        let len_item = match item.len(self.rt) {
            Ok(l) => l,
            Err(e) if e.kind == ErrorKind::TypeError => 1,
            Err(e) => return Err(self.locate(e, f.tag.off)),
        };
        if len_item != f.vars.len() {
            return Err(self.locate(
                err(
                    ErrorKind::ValueError,
                    format!("Need {} values to unpack in for loop; got {}. ", f.vars.len(), len_item),
                ),
                f.tag.off,
            ));
        }
        let vals = item.iterate(self.rt).map_err(|e| self.locate(e, f.tag.off))?;
        ctx.push();
        for (name, v) in f.vars.iter().zip(vals.iter()) {
            ctx.set(name, v.clone());
        }
        Ok(true)
    }

    fn render_if(&mut self, branches: &[IfBranch], ctx: &mut Context, out: &mut String) -> SResult<()> {
        for b in branches {
            let matched = match &b.cond {
                None => true,
                Some((cond, tag)) => {
                    let res = self.with_origin(tag, |r| {
                        let v = r.eval(cond, ctx)?;
                        v.truthy(r.rt)
                    });
                    match res {
                        Ok(m) => m,
                        Err(e) if is_vdne(&e) => false,
                        Err(e) => return Err(e),
                    }
                }
            };
            if matched {
                return self.render_nodes(&b.body, ctx, out);
            }
        }
        Ok(())
    }

    /// Evaluates an `{% if %}` condition. Operators swallow errors into `False`, as Django's
    /// smartif does (except the sandbox's own budget stops).
    fn eval(&mut self, c: &Cond, ctx: &Context) -> SResult<Val> {
        let guarded = |res: SResult<Val>| match res {
            Err(e) if e.kind != ErrorKind::Budget => Ok(Val::Bool(false)),
            other => other,
        };
        match c {
            Cond::Lit(e) => e.resolve(self, ctx, true),
            Cond::Not(a) => {
                let res = self.eval(a, ctx).and_then(|v| Ok(Val::Bool(!v.truthy(self.rt)?)));
                guarded(res)
            }
            Cond::Bin(Op::Or, a, b) => {
                let res = (|| {
                    let x = self.eval(a, ctx)?;
                    if x.truthy(self.rt)? {
                        Ok(x)
                    } else {
                        self.eval(b, ctx)
                    }
                })();
                guarded(res)
            }
            Cond::Bin(Op::And, a, b) => {
                let res = (|| {
                    let x = self.eval(a, ctx)?;
                    if !x.truthy(self.rt)? {
                        Ok(x)
                    } else {
                        self.eval(b, ctx)
                    }
                })();
                guarded(res)
            }
            Cond::Bin(op, a, b) => {
                let res = (|| {
                    let x = self.eval(a, ctx)?;
                    let y = self.eval(b, ctx)?;
                    Ok(Val::Bool(self.compare(*op, &x, &y)?))
                })();
                guarded(res)
            }
        }
    }

    fn compare(&self, op: Op, x: &Val, y: &Val) -> SResult<bool> {
        let order = || {
            x.py_cmp(y).ok_or_else(|| {
                err(
                    ErrorKind::TypeError,
                    format!("'<' not supported between instances of '{}' and '{}'", x.type_name(), y.type_name()),
                )
            })
        };
        use std::cmp::Ordering::*;
        Ok(match op {
            Op::Eq => py_eq(x, y),
            Op::Ne => !py_eq(x, y),
            Op::Lt => order()? == Less,
            Op::Le => order()? != Greater,
            Op::Gt => order()? == Greater,
            Op::Ge => order()? != Less,
            Op::In => self.contains(y, x)?,
            Op::NotIn => !self.contains(y, x)?,
            Op::Is => identical(x, y),
            Op::IsNot => !identical(x, y),
            Op::Or | Op::And | Op::Not => false,
        })
    }

    /// Python's `item in container`.
    fn contains(&self, container: &Val, item: &Val) -> SResult<bool> {
        match container {
            Val::Str(s) | Val::SafeStr(s) => match item.as_str() {
                Some(i) => Ok(s.contains(i)),
                None => Err(err(
                    ErrorKind::TypeError,
                    format!("'in <string>' requires string as left operand, not {}", item.type_name()),
                )),
            },
            Val::List(v) => Ok(v.borrow().iter().any(|x| identical(x, item) || py_eq(x, item))),
            Val::Tuple(v) => Ok(v.iter().any(|x| identical(x, item) || py_eq(x, item))),
            Val::Dict(d) | Val::Set(d) => d.borrow().contains(item),
            Val::Obj(o) => {
                let items = o.iterate(self.rt)?;
                Ok(items.iter().any(|x| identical(x, item) || py_eq(x, item)))
            }
            other => {
                Err(err(ErrorKind::TypeError, format!("argument of type '{}' is not iterable", other.type_name())))
            }
        }
    }

    fn render_cache(&mut self, c: &CacheNode, ctx: &mut Context, out: &mut String) -> SResult<()> {
        let (timeout, key) = self.with_origin(&c.tag, |r| {
            let t = c.timeout.resolve(r, ctx, false)?;
            let timeout = match &t {
                Val::None => None,
                other => match py_int(other) {
                    Ok(i) => Some(i as f64),
                    Err(_) => {
                        return Err(err(
                            ErrorKind::TemplateSyntaxError,
                            format!("\"cache\" tag got a non-integer timeout value: {}", other.repr(r.rt)?),
                        ))
                    }
                },
            };
            if let Some(using) = &c.using {
                let name = using.resolve(r, ctx, false)?;
                let name = str_of(r, &name)?;
                if name != "default" {
                    return Err(err(
                        ErrorKind::TemplateSyntaxError,
                        format!("Invalid cache name specified for cache tag: {}", python_str_repr(&name)),
                    ));
                }
            }
            let mut vary = Vec::with_capacity(c.vary.len());
            for e in &c.vary {
                let v = e.resolve(r, ctx, false)?;
                vary.push(str_of(r, &v)?);
            }
            Ok((timeout, make_template_fragment_key(&c.name, &vary)))
        })?;
        let made = key;
        let host = super::host::host(self.rt);
        let hit = match &host {
            Some(h) => h.cache_get(self.rt, &made)?,
            None => None,
        };
        if let Some(v) = hit {
            match v {
                Val::Str(s) | Val::SafeStr(s) => out.push_str(&s),
                other => out.push_str(&other.to_str(self.rt)?),
            }
            return Ok(());
        }
        let mut inner = String::new();
        self.render_nodes(&c.body, ctx, &mut inner)?;
        let t = match timeout {
            None => crate::cache::Timeout::Never,
            Some(s) => crate::cache::Timeout::Seconds(s),
        };
        if let Some(h) = &host {
            h.cache_set(self.rt, &made, &Val::safe(&inner), t)?;
        }
        out.push_str(&inner);
        Ok(())
    }

    fn widthratio(&mut self, val: &FilterExpr, max: &FilterExpr, width: &FilterExpr, ctx: &Context) -> SResult<String> {
        // Any ValueError/TypeError while resolving the three arguments is reported as Django's
        // TemplateSyntaxError; a missing filter argument renders nothing.
        let resolved = (|| -> SResult<(Val, Val, i64)> {
            let value = val.resolve(self, ctx, false)?;
            let max_value = max.resolve(self, ctx, false)?;
            let w = width.resolve(self, ctx, false)?;
            Ok((value, max_value, py_int(&w)?))
        })();
        let (value, max_value, w) = match resolved {
            Ok(v) => v,
            Err(e) if is_vdne(&e) => return Ok(String::new()),
            Err(e) if matches!(e.kind, ErrorKind::ValueError | ErrorKind::TypeError) => {
                return Err(err(ErrorKind::TemplateSyntaxError, "widthratio final argument must be a number"));
            }
            Err(e) => return Err(e),
        };
        let (Ok(v), Ok(m)) = (py_float(&value), py_float(&max_value)) else {
            return Ok(String::new());
        };
        if m == 0.0 {
            return Ok("0".into());
        }
        let ratio = v / m * w as f64;
        if !ratio.is_finite() {
            return Ok(String::new());
        }
        // Python's round(): half to even.
        let r = ratio.round();
        let r = if (ratio - ratio.trunc()).abs() == 0.5 { 2.0 * (ratio / 2.0).round() } else { r };
        Ok(format!("{}", r as i64))
    }

    #[allow(clippy::too_many_arguments)]
    fn render_ifchanged(
        &mut self,
        tag: &Tag,
        id: usize,
        exprs: &[FilterExpr],
        yes: &[Node],
        no: &[Node],
        ctx: &mut Context,
        out: &mut String,
    ) -> SResult<()> {
        let frame = (id, self.loop_runs.last().copied().unwrap_or(0));
        if exprs.is_empty() {
            let mut inner = String::new();
            self.render_nodes(yes, ctx, &mut inner)?;
            if self.ifchanged_text.get(&frame) != Some(&inner) {
                self.ifchanged_text.insert(frame, inner.clone());
                if inner.is_empty() {
                    // Django: `nodelist_true_output or self.nodelist_true.render(context)`.
                    self.render_nodes(yes, ctx, out)?;
                } else {
                    out.push_str(&inner);
                }
            } else {
                self.render_nodes(no, ctx, out)?;
            }
            return Ok(());
        }
        let vals =
            self.with_origin(tag, |r| exprs.iter().map(|e| e.resolve(r, ctx, true)).collect::<SResult<Vec<_>>>())?;
        let changed = match self.ifchanged.get(&frame) {
            Some(old) => old.len() != vals.len() || old.iter().zip(vals.iter()).any(|(a, b)| !py_eq(a, b)),
            None => true,
        };
        if changed {
            self.ifchanged.insert(frame, vals);
            self.render_nodes(yes, ctx, out)
        } else {
            self.render_nodes(no, ctx, out)
        }
    }

    fn regroup(&mut self, target: &FilterExpr, key: &FilterExpr, var: &str, ctx: &mut Context) -> SResult<Val> {
        let list = target.resolve(self, ctx, true)?;
        if matches!(list, Val::None) {
            return Ok(Val::list(Vec::new()));
        }
        let items = list.iterate(self.rt)?;
        let mut groups: Vec<(Val, Vec<Val>)> = Vec::new();
        for item in items.iter() {
            ctx.set(var, item.clone());
            let k = key.resolve(self, ctx, true)?;
            match groups.last_mut() {
                Some((g, members)) if py_eq(g, &k) => members.push(item.clone()),
                _ => groups.push((k, vec![item.clone()])),
            }
        }
        Ok(Val::list(
            groups.into_iter().map(|(g, l)| Val::obj(GroupedResult { grouper: g, list: Val::list(l) })).collect(),
        ))
    }
}

/// `localize(float)` → `numberformat.format`: a float whose repr uses an exponent is written out
/// in full (`1e+20` → `100000000000000000000`, `1.5e-07` → `0.00000015`).
pub(crate) fn localize_float(f: f64) -> String {
    let r = crate::pyfmt::python_float_repr(f);
    let Some((mant, exp)) = r.split_once('e') else { return r };
    let exp: i64 = exp.parse().unwrap_or(0);
    let (sign, mant) = match mant.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mant),
    };
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    let digits = format!("{int_part}{frac_part}");
    let point = int_part.len() as i64 + exp;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
    };
    format!("{sign}{body}")
}

/// `re.sub(r">\s+<", "><", s)`.
fn strip_spaces_between_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('>') {
        out.push_str(&rest[..=i]);
        let after = &rest[i + 1..];
        let trimmed = after.trim_start_matches(super::lexer::py_space);
        if trimmed.len() != after.len() && trimmed.starts_with('<') {
            rest = trimmed;
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Django's `make_template_fragment_key(fragment_name, vary_on)`:
/// `template.cache.<name>.<md5 of "v1:v2:...:">`.
pub fn make_template_fragment_key(name: &str, vary_on: &[String]) -> String {
    let mut data = Vec::new();
    for v in vary_on {
        data.extend_from_slice(v.as_bytes());
        data.push(b':');
    }
    format!("template.cache.{name}.{}", crate::md5::hex(&data))
}

impl Object for BlockVar {
    fn type_name(&self) -> String {
        "BlockNode".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        match name {
            "super" => {
                // BlockNode.super(): render this block again, which takes the next (less
                // derived) version off the block context.
                let (Some(bc), Some(ctx)) = (&self.blocks, &self.ctx) else { return Ok(Some(Val::safe(""))) };
                let Some(next) = bc.borrow().peek(&self.name) else { return Ok(Some(Val::safe(""))) };
                let mut r = Renderer::new(rt, next.src.clone(), next.cycles.clone());
                r.blocks = Some(bc.clone());
                let mut out = String::new();
                let mut c = ctx.borrow().clone();
                r.render_block(&self.name.clone(), &next.body.clone(), &mut c, &mut out)?;
                Ok(Some(Val::safe(out)))
            }
            "name" => Ok(Some(Val::str(&*self.name))),
            _ => Ok(None),
        }
    }
    fn to_str(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<Block Node: {}. Contents: ...>", self.name))
    }
}
