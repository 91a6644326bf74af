//! The `run-cases` contract (see `app/sandbox/CONTRACTS.md`): evaluate context
//! expressions and render a template, counting the queries each render sends.

use serde::{Deserialize, Serialize};

use crate::error::SandboxError;
use crate::runtime::Rt;
use crate::template::{collapse_whitespace, Context, Template};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub context: serde_json::Map<String, serde_json::Value>,
    pub template: String,
    #[serde(default = "one")]
    pub renders: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RenderResult {
    pub n_queries: usize,
    pub output: String,
    pub sql: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum CaseResult {
    Ok { name: String, renders: Vec<RenderResult> },
    Err { name: String, error: String },
}

/// Most renders a case may ask for; more is a typo, not a test.
const MAX_RENDERS: u32 = 100;

/// One render: evaluate each context expression (lazily, as Django does), then render.
/// Returns the rendered text (not collapsed).
pub fn render_once(rt: &Rt, context: &[(String, String)], template: &Template) -> Result<String, SandboxError> {
    let mut ctx = Context::new();
    for (var, src) in context {
        let v = eval_context(rt, var, src).map_err(|e| e.in_source(format!("context \"{var}\"")))?;
        ctx.set(var, v);
    }
    template.render(rt, &mut ctx).map_err(|e| e.in_source("template"))
}

/// Evaluates one context expression in the names a Django shell of the sample app has.
pub fn eval_context(rt: &Rt, var: &str, src: &str) -> Result<crate::value::Val, SandboxError> {
    let file = std::rc::Rc::new(crate::source::SourceFile { name: format!("context \"{var}\""), text: src.to_string() });
    let expr = crate::py::parser::parse_expression(src)?;
    let ns = crate::django::modules::shell_namespace(rt)?;
    let fr = crate::py::interp::Frame::module(file, ns);
    rt.with_origin(format!("context \"{var}\""), || crate::py::interp::eval(rt, &fr, &expr))
}

pub fn run_case(rt: &Rt, case: &Case) -> CaseResult {
    let fail = |e: String| CaseResult::Err { name: case.name.clone(), error: e };
    crate::django::caches::with_backend(rt, |b| b.clear());
    let mut context = Vec::new();
    for (k, v) in &case.context {
        match v.as_str() {
            Some(s) => context.push((k.clone(), s.to_string())),
            None => return fail(format!("context \"{k}\" must be a string holding a Python expression")),
        }
    }
    if case.renders > MAX_RENDERS {
        return fail(format!("renders is {}; at most {MAX_RENDERS}", case.renders));
    }
    let template = match Template::parse(&case.template) {
        Ok(t) => t,
        Err(e) => return fail(e.in_source("template").pretty()),
    };
    let mut renders = Vec::new();
    for _ in 0..case.renders {
        rt.begin_request(10_000.0);
        match render_once(rt, &context, &template) {
            Ok(out) => {
                let log = rt.log.borrow();
                renders.push(RenderResult {
                    n_queries: log.len(),
                    output: collapse_whitespace(&out),
                    sql: log.iter().map(|q| q.sql.clone()).collect(),
                });
            }
            Err(e) => return fail(e.pretty()),
        }
    }
    CaseResult::Ok { name: case.name.clone(), renders }
}
