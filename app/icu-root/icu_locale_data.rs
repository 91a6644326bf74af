// icu_locale_data: the crate's own data, unchanged (see mod.rs).
include!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mod.rs"));
