//! CSV with a WKT column or lon/lat columns, found by their header names
//! (`wkt`, `geometry`, `lon`/`lat`, `x`/`y`…) as an import without options
//! finds them; delimiter sniffing, quoting, number typing and the WKT parser.
#![no_main]

use imgis::import::{Format, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = imgis_fuzz::write("input.csv", data);
    let options = ReadOptions {
        format: Some(Format::Csv),
        ..ReadOptions::default()
    };
    imgis_fuzz::read_all(&path, &options);
});
