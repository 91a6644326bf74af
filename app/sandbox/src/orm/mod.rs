//! The Django ORM over the sample app's models, ported from Django's own structure so the SQL
//! and the query counts are Django's:
//!
//! - [`expr`]: the expression and WHERE-tree types (`Col`, lookups, `Q` trees);
//! - [`sql`]: `Query` — joins, aliases, filters, ordering, values, group by (Django's
//!   `sql/query.py`);
//! - [`lookups`] and [`resolve`]: turning `title__icontains="x"` and `F()`/`OuterRef()` into SQL
//!   expressions;
//! - [`compiler`]: `SQLCompiler` and friends, `Query` → SQL text and parameters ([`compiled`]:
//!   the statement it makes);
//! - [`queryset`]: the lazy `QuerySet`, managers and related managers (where queries fire);
//! - [`fetch`] and [`prefetch`]: rows → instances, `prefetch_related`;
//! - [`instance`]: model classes and instances (lazy foreign keys, deferred fields);
//! - [`write`]: `save`, `create`, `bulk_*`, `update`, the deletion `Collector`, m2m writes;
//! - [`plan`]: `explain()` and the plan's wording;
//! - [`combine`]: `qs1 | qs2`, `qs1 & qs2`; [`raw`]: `Manager.raw()`;
//! - [`api`]: `Q`, `F`, aggregates, `Exists`, `Prefetch`, … as Python objects ([`fields`]: the
//!   field classes an `output_field=` or a `Cast` names).

pub mod aggregation;
pub mod api;
pub mod combine;
pub mod compiled;
pub mod compiler;
pub mod events;
pub mod expr;
pub mod fields;
pub mod fetch;
pub mod instance;
pub mod lookups;
pub mod model;
pub mod plan;
pub mod prefetch;
pub mod queryset;
pub mod raw;
pub mod relations;
pub mod resolve;
pub mod select;
pub mod sql;
pub mod write;
