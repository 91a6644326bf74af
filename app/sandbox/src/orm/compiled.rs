//! A compiled statement — SQL text, parameters apart, and how its columns become rows — as
//! the compiler (`compiler.rs`) makes it; and one kept to run again with one parameter changed
//! (`Rebound`, carried by a related manager's QuerySet). Apart from the compiler so a QuerySet
//! (`model.rs`) can hold one without depending on the compiler.

use indexmap::IndexMap;

use crate::engine::SqlValue;
use crate::error::SResult;
use crate::runtime::Rt;
use crate::schema::{Field, Model};

/// Which model's columns a run of selected columns holds, for building instances.
#[derive(Clone, Debug)]
pub struct KlassInfo {
    pub model: &'static Model,
    /// (select index, field) for each loaded field.
    pub fields: Vec<(usize, &'static Field)>,
    /// `select_related`: (the FK on this model, the related model's columns).
    pub related: Vec<(&'static Field, KlassInfo)>,
    /// The path from the queryset's model (`author`, `author__profile`).
    pub path: String,
}

/// A compiled statement with parameters apart, and what the engine runs when it differs.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub sql: String,
    pub params: Vec<SqlValue>,
    /// The same statement with Django's SQLite functions in built-in form.
    pub engine: Option<(String, Vec<SqlValue>)>,
    pub klass_info: Option<KlassInfo>,
    /// Selected alias → column index (annotations and values() names).
    pub col_map: IndexMap<String, usize>,
    pub n_cols: usize,
}

/// A statement compiled for one query, kept to run for a query that differs from it only in
/// one parameter's value (a related manager's queryset for the next owner in a loop).
pub struct Rebound {
    pub compiled: Compiled,
    /// Which parameter differs.
    pub param: usize,
}

impl Rebound {
    /// `compiled`, kept to run with another value where it has `value`: when `value` is exactly
    /// one of its parameters and nothing is rewritten for the engine; else `None`.
    pub fn of(compiled: Compiled, value: &SqlValue) -> Option<Rebound> {
        let mut places = compiled.params.iter().enumerate().filter(|(_, p)| *p == value).map(|(i, _)| i);
        let param = places.next()?;
        (compiled.engine.is_none() && places.next().is_none()).then_some(Rebound { compiled, param })
    }

    /// The kept statement with `value` as its differing parameter.
    pub fn run(&self, rt: &Rt, value: &SqlValue) -> SResult<crate::engine::StmtResult> {
        let mut params = self.compiled.params.clone();
        params[self.param] = value.clone();
        rt.query(&self.compiled.sql, &params)
    }
}

impl Compiled {
    pub fn run(&self, rt: &Rt) -> SResult<crate::engine::StmtResult> {
        match &self.engine {
            None => rt.query(&self.sql, &self.params),
            // Show Django's text; run the equivalent with the engine's built-ins.
            Some((esql, eparams)) => rt.query_with(&self.sql, &self.params, esql, eparams),
        }
    }
}

