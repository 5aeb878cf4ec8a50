//! What the fuzz targets share: a scratch folder for the files the readers
//! open (they take paths, as the import does), and the full read of a source.
//!
//! Only panics, hangs, memory blow-ups and UB are findings: a reader's `Err`
//! (for the file or for one feature) is a correct answer to bad bytes.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use geo::CoordsIter;
use imgis::import::{self, FeatureSource, ReadOptions};

/// A folder for this process's input files: in RAM (`/dev/shm`) when the
/// system has it, since every run writes files; one per process so that
/// parallel fuzzing jobs (`-jobs=N`) do not overwrite each other's input.
/// It is left behind at exit (libFuzzer ends with `exit`); the files are
/// tiny and `scripts/fuzz.sh` removes the folders when its runs end.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("imgis-fuzz-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("the scratch folder can be created");
        dir
    })
}

/// Writes `bytes` as `name` in the scratch folder and returns its path.
pub fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    fs::write(&path, bytes).expect("the scratch folder is writable");
    path
}

/// Removes `name` from the scratch folder, if it is there.
pub fn remove(name: &str) {
    let _ = fs::remove_file(scratch_dir().join(name));
}

/// Opens `path` as the import does ([`import::open`]) and reads every
/// feature to the end the way the import pipeline does
/// ([`FeatureSource::next_deferred`], then decoding), touching the geometry
/// and properties of each so nothing is left lazily undecoded.
///
/// With `IMGIS_FUZZ_DEBUG` set, what the reader said is printed to stderr:
/// to check that a seed reads as meant, or to see how a reproducer ends.
pub fn read_all(path: &Path, options: &ReadOptions) {
    let source = import::open(path, options);
    let mut source = match source {
        Ok(source) => source,
        Err(e) => {
            debug(format_args!("open: {e}"));
            return;
        }
    };
    debug(format_args!("open: {:?}", source.info()));
    drain(source.as_mut());
}

/// Prints `what` to stderr when `IMGIS_FUZZ_DEBUG` is set.
pub fn debug(what: std::fmt::Arguments) {
    static ON: OnceLock<bool> = OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("IMGIS_FUZZ_DEBUG").is_some()) {
        eprintln!("{what}");
    }
}

/// Reads `source` to its end. A bound on the steps catches a reader that
/// never ends (each step must consume input or end the stream; the inputs
/// are far smaller than this many features).
fn drain(source: &mut dyn FeatureSource) {
    const MAX_STEPS: usize = 1 << 20;
    for _ in 0..MAX_STEPS {
        let Some(deferred) = source.next_deferred() else {
            return;
        };
        let _ = source.bytes_read();
        match deferred() {
            Ok(feature) => {
                let coords = feature.geometry.as_ref().map(CoordsIter::coords_count);
                let properties = serde_json::to_string(&feature.properties).ok();
                debug(format_args!(
                    "feature {}: {coords:?} coordinates, properties {}, notes {:?}",
                    feature.index,
                    properties.as_deref().unwrap_or("?"),
                    feature.notes
                ));
                std::hint::black_box((coords, properties));
            }
            Err(e) => debug(format_args!("error: {e}")),
        }
    }
    panic!("the source gave more than {MAX_STEPS} features from a small input: a loop?");
}
