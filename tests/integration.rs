//! The integration tests: one test binary for the whole suite.
//!
//! Each file beside this one is a module of it, so `cargo test` links the
//! library and its dependencies into one executable instead of one per file.
//! With full debug information each of those executables was about 390 MB and
//! took tens of seconds to link; with seventeen of them a CI run died in the
//! linker (SIGBUS, the mark of a full disk). Run one file's tests by its module
//! path, for example `cargo test --test integration auth::`.

mod common;

mod auth;
mod cli;
mod constraints;
mod faults;
mod gpkg_file;
mod import;
mod limits;
mod load;
mod metrics;
mod ogc_features;
mod openapi;
mod routing;
mod server;
mod store_contract;
mod tiles_archive;
mod tiles_http;
mod web_map;
