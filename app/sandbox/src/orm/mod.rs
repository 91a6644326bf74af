//! A Django ORM subset over the sample app's models.
//!
//! - [`query`]: what a QuerySet asks for, and the SQL Django would write for it;
//! - [`objects`]: querysets, managers, instances and friends, where laziness and caching live;
//! - [`eval`]: evaluation of the learner's Python expression into those objects.

pub mod eval;
pub mod objects;
pub mod query;
