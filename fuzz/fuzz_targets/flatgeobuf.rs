//! FlatGeobuf: header, spatial index sizes, size prefixes, geometries and
//! properties of every feature.
#![no_main]

use imgis::import::{Format, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = imgis_fuzz::write("input.fgb", data);
    let options = ReadOptions {
        format: Some(Format::FlatGeobuf),
        ..ReadOptions::default()
    };
    imgis_fuzz::read_all(&path, &options);
});
