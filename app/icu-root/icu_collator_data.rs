// icu_collator_data, the collation data the engine is compiled with (turso_core → icu_collator).
// We keep ICU4X's root collation (the Unicode default order every locale starts from) and the
// small per-locale tables, taken from the data crate's own files (CARGO_MANIFEST_DIR is the data
// crate's directory while it compiles), and leave out the locale tailorings: about 0.9 MB of
// data that only `COLLATE <locale>` in the SQL console could use. Such a collation now fails as
// SQLite fails for it ("no such collation sequence: sv"); a locale without a tailoring ("en",
// "de") keeps working on the root order.

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/collation_reordering_v1.rs.data"));
include!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/collation_diacritics_v1.rs.data"));
include!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/collation_jamo_v1.rs.data"));
include!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/collation_metadata_v1.rs.data"));
include!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/collation_special_primaries_v1.rs.data"));
include!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/collation_root_v1.rs.data"));
include!("no_tailorings.rs");

/// Declares a type a data provider; the data macros above then add one marker each.
#[doc(hidden)]
#[macro_export]
macro_rules! __make_provider {
    ($name:ty) => {
        impl $name {
            #[allow(dead_code)]
            pub(crate) const MUST_USE_MAKE_PROVIDER_MACRO: () = ();
        }
        icu_provider::marker::impl_data_provider_never_marker!($name);
    };
}
#[doc(inline)]
pub use __make_provider as make_provider;
