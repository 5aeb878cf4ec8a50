//! Shapefiles: one input holds the set's files, each but the last behind
//! its length (u32, little-endian):
//!
//! ```text
//! [len][.shp] [len][.shx] [len][.dbf] [len][.prj] [.cpg: the rest]
//! ```
//!
//! A length past the end takes what is left. An empty part is a file that
//! is not there (no `.shx`, `.prj` or `.cpg` are cases the reader handles);
//! the `.shp` is always written. A `.shp` starting with `PK` is read as a
//! zipped Shapefile, as the import reads it.
#![no_main]

use imgis::import::{Format, ReadOptions};
use libfuzzer_sys::fuzz_target;

/// The files of the set, in the order of the input's parts.
const PARTS: [&str; 5] = ["shp", "shx", "dbf", "prj", "cpg"];

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    for (i, ext) in PARTS.iter().enumerate() {
        let part = if i + 1 == PARTS.len() {
            std::mem::take(&mut rest)
        } else {
            take_part(&mut rest)
        };
        let name = format!("input.{ext}");
        if part.is_empty() && *ext != "shp" {
            imgis_fuzz::remove(&name);
        } else {
            imgis_fuzz::write(&name, part);
        }
    }
    let options = ReadOptions {
        format: Some(Format::Shapefile),
        ..ReadOptions::default()
    };
    imgis_fuzz::read_all(&imgis_fuzz::scratch_dir().join("input.shp"), &options);
});

/// The next length-prefixed part of `rest`, which moves past it.
fn take_part<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let Some((len, after)) = rest.split_first_chunk::<4>() else {
        return std::mem::take(rest);
    };
    let len = usize::try_from(u32::from_le_bytes(*len)).unwrap_or(usize::MAX);
    let (part, after) = after.split_at(len.min(after.len()));
    *rest = after;
    part
}
