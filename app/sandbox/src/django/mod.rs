//! Django's runtime as the labs need it, on top of the ORM and the template engine: the
//! importable modules, signals, the cache framework and its backends, the request cycle (URL
//! routing, session and auth middleware, `cache_page`), shortcuts, e-mail, the test runner and
//! the `run-project` contract. [`host`] lends the layers below what they ask of Django.

pub mod cache;
pub mod caches;
pub mod handler;
pub mod host;
pub mod http;
pub mod mail;
pub mod migrations;
pub mod models_file;
pub mod modules;
pub mod paginator;
pub mod project;
pub mod settings;
pub mod signals;
pub mod steps;
pub mod test_asserts;
pub mod test_client;
pub mod testing;
pub mod urls;
