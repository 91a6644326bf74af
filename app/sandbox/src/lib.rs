//! The sandbox core: an in-memory SQLite-compatible engine, the sample app's data, and a
//! Django-faithful subset of the ORM and template language, with a query log.
//!
//! It knows nothing about the DOM or Leptos: it builds and tests natively, and the worker
//! crate wraps it for the browser.

pub mod cache;
pub mod cases;
pub mod clock;
pub mod course;
pub mod datetime;
pub mod db;
pub mod django;
pub mod engine;
pub mod lab;
pub mod md5;
pub mod error;
pub mod images;
pub mod judge;
pub mod orm;
pub mod profiler;
pub mod py;
pub mod pyfmt;
pub mod runtime;
pub mod schema;
pub mod seed;
pub mod session;
pub mod source;
pub mod template;
pub mod value;
