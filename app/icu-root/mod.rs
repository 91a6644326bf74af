// ICU4X's data crates read their data from the directory named by ICU4X_DATA_DIR when that
// variable is set, all from the same directory; .ci/setup.sh sets it to a copy of this one. Each
// crate gets the file named after it: the collator's data is trimmed (icu_collator_data.rs), the
// others are the crate's own data unchanged. A new ICU data crate in Cargo.lock fails to compile
// here, naming the file to add.
include!(concat!(env!("CARGO_PKG_NAME"), ".rs"));
