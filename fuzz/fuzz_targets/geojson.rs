//! GeoJSON and GeoJSON sequences: the format as the import detects it from
//! the first bytes (a sequence when the first line is a whole feature, else
//! a FeatureCollection, Feature or geometry), then every feature read.
#![no_main]

use std::path::Path;

use imgis::import::{self, Format, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let name = "input.geojson";
    // The import sniffs the first 8 KiB.
    let head = &data[..data.len().min(8192)];
    let format = match import::detect(Path::new(name), head) {
        Some(Format::GeoJsonSeq) => Format::GeoJsonSeq,
        _ => Format::GeoJson,
    };
    let path = imgis_fuzz::write(name, data);
    let options = ReadOptions {
        format: Some(format),
        ..ReadOptions::default()
    };
    imgis_fuzz::read_all(&path, &options);
});
