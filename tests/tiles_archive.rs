//! `imgis tiles export` and the archives it writes, read back by readers that
//! share no code with the writer:
//! - a PMTiles v3 reader written here from the spec (header, varint
//!   directories, leaf directories, Hilbert tile ids) with flate2 for gzip;
//! - GDAL's MVT driver, over the tiles of one zoom taken out of the archive
//!   with the archive's metadata (Debian's GDAL 3.6 has no PMTiles driver: it
//!   came in 3.8; when the installed GDAL has it, it must open the archive too);
//! - `mvt-reader` for the tiles themselves.
//!
//! The tiles are checked against what `imgis::tiles::render` makes for the same
//! addresses, byte for byte.

use std::collections::{BTreeMap, BTreeSet};
use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

use geo_types::Rect;
use imgis::demo::DemoOptions;
use imgis::index::LayerIndex;
use imgis::model::Layer;
use imgis::tiles::archive::{self, ArchiveError, ArchiveSet, ExportRequest, ExportSummary};
use imgis::tiles::{render, TileCoord, TileOptions, ZoomRange};

type Layers = Vec<(Arc<LayerIndex>, ZoomRange)>;

/// The 2 000-parcel demo city, every layer indexed with store-like ids from 1,
/// each with its kind's zoom range; built once for all the tests here.
fn city() -> &'static Layers {
    static CITY: OnceLock<Layers> = OnceLock::new();
    CITY.get_or_init(|| {
        let city = imgis::demo::generate(&DemoOptions {
            parcels: 2000,
            ..Default::default()
        })
        .expect("the demo city");
        let mut next_id = 0;
        city.layers
            .into_iter()
            .map(|l| {
                let features = l
                    .features
                    .into_iter()
                    .map(|f| {
                        next_id += 1;
                        f.into_feature(next_id)
                    })
                    .collect();
                let zoom = ZoomRange::for_kind(l.spec.kind);
                let layer = Layer {
                    spec: l.spec,
                    version: 1,
                    updated_at: chrono::Utc::now(),
                    feature_count: 0,
                };
                (Arc::new(LayerIndex::build(layer, features)), zoom)
            })
            .collect()
    })
}

fn layer(code: &str) -> (Arc<LayerIndex>, ZoomRange) {
    city()
        .iter()
        .find(|(l, _)| l.code().as_str() == code)
        .cloned()
        .unwrap_or_else(|| panic!("the demo city has no layer {code}"))
}

/// `[west, south, east, north]` of a lon/lat rectangle.
fn edges(r: Rect<f64>) -> [f64; 4] {
    [r.min().x, r.min().y, r.max().x, r.max().y]
}

/// The city centre where the parcels are: the area most tests export.
fn parcels_area() -> [f64; 4] {
    edges(layer("parcels").0.extent().expect("parcels"))
}

fn bbox(e: [f64; 4]) -> archive::LonLatBbox {
    archive::LonLatBbox::new(e[0], e[1], e[2], e[3]).expect("a valid area")
}

/// Exports and checks what the progress callback saw on the way.
fn export(
    layers: Layers,
    minzoom: u8,
    maxzoom: u8,
    area: Option<[f64; 4]>,
    out: &Path,
) -> Result<ExportSummary, ArchiveError> {
    let seen = Mutex::new(Vec::<(u64, u64)>::new());
    let request = ExportRequest {
        layers,
        minzoom,
        maxzoom,
        bbox: area.map(bbox),
        options: TileOptions::default(),
        out: out.to_owned(),
    };
    let summary = archive::export(&request, &|done, total| {
        seen.lock().unwrap().push((done, total));
    })?;
    let seen = seen.into_inner().unwrap();
    let total = summary.tiles + summary.empty;
    assert!(
        seen.iter().all(|&(_, t)| t == total),
        "one total throughout"
    );
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress only grows"
    );
    assert_eq!(
        seen.last(),
        Some(&(total, total)),
        "progress ends at the total"
    );
    Ok(summary)
}

/// The tiles over an area at zoom `z`, from the slippy-map formulas written
/// again here (latitudes clamped to Web Mercator's ±85.0511°).
fn tiles_over(area: [f64; 4], z: u8) -> Vec<TileCoord> {
    let n = f64::from(1u32 << z);
    let col = |lon: f64| ((lon + 180.0) / 360.0 * n).floor().clamp(0.0, n - 1.0) as u32;
    let row = |lat: f64| {
        let r = lat.clamp(-85.051_128_78, 85.051_128_78).to_radians();
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / PI) / 2.0 * n)
            .floor()
            .clamp(0.0, n - 1.0) as u32
    };
    let mut tiles = Vec::new();
    for x in col(area[0])..=col(area[2]) {
        for y in row(area[3])..=row(area[1]) {
            tiles.push(TileCoord::new(z, x, y).unwrap());
        }
    }
    tiles
}

/// What the server's renderer makes of a tile: the layers drawn at its zoom, in order.
fn rendered(layers: &Layers, tile: TileCoord) -> Vec<u8> {
    let drawn: Vec<(&str, &LayerIndex)> = layers
        .iter()
        .filter(|(_, zoom)| zoom.contains(tile.z))
        .map(|(l, _)| (l.code().as_str(), l.as_ref()))
        .collect();
    render(&drawn, tile, &TileOptions::default()).unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// Features per layer of an MVT tile, decoded by mvt-reader.
fn layer_counts(mvt: &[u8]) -> BTreeMap<String, usize> {
    let reader = mvt_reader::Reader::new(mvt.to_vec()).expect("a valid tile");
    reader
        .get_layer_names()
        .expect("layer names")
        .into_iter()
        .enumerate()
        .map(|(i, name)| (name, reader.get_features(i).expect("features").len()))
        .collect()
}

/// A PMTiles v3 archive read with nothing but the specification
/// (github.com/protomaps/PMTiles, spec/v3/spec.md) and gzip.
mod spec {
    use std::collections::BTreeMap;
    use std::path::Path;

    #[derive(Debug)]
    pub struct Header {
        pub addressed_tiles: u64,
        pub tile_entries: u64,
        pub tile_contents: u64,
        pub clustered: bool,
        /// 2 is gzip.
        pub internal_compression: u8,
        pub tile_compression: u8,
        /// 1 is MVT.
        pub tile_type: u8,
        pub minzoom: u8,
        pub maxzoom: u8,
        /// `[west, south, east, north]`, degrees.
        pub bounds: [f64; 4],
        pub center_zoom: u8,
        /// `[lon, lat]`, degrees.
        pub center: [f64; 2],
    }

    pub struct Archive {
        pub header: Header,
        pub metadata: serde_json::Value,
        bytes: Vec<u8>,
        /// Tile id → absolute offset and length of its bytes.
        tiles: BTreeMap<u64, (usize, usize)>,
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// A position stored as two little-endian i32 in 1e-7 degrees.
    fn degrees_at(b: &[u8], at: usize) -> f64 {
        f64::from(i32::from_le_bytes(b[at..at + 4].try_into().unwrap())) / 1e7
    }

    fn varints(mut b: &[u8]) -> impl Iterator<Item = u64> + '_ {
        std::iter::from_fn(move || {
            let (mut value, mut shift) = (0u64, 0);
            loop {
                let (&byte, rest) = b.split_first()?;
                b = rest;
                value |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte < 0x80 {
                    return Some(value);
                }
            }
        })
    }

    /// A directory's entries: (tile id, run length, length, offset).
    fn directory(gzipped: &[u8]) -> Vec<(u64, u64, u64, u64)> {
        let bytes = super::gunzip(gzipped);
        let mut v = varints(&bytes);
        let n = v.next().unwrap() as usize;
        let mut id = 0;
        let ids: Vec<u64> = (0..n)
            .map(|_| {
                id += v.next().unwrap();
                id
            })
            .collect();
        let runs: Vec<u64> = (0..n).map(|_| v.next().unwrap()).collect();
        let lengths: Vec<u64> = (0..n).map(|_| v.next().unwrap()).collect();
        let mut offsets: Vec<u64> = Vec::with_capacity(n);
        for i in 0..n {
            let raw = v.next().unwrap();
            // 0 after the first entry: right after the previous entry's bytes.
            let offset = if raw == 0 && i > 0 {
                offsets[i - 1] + lengths[i - 1]
            } else {
                raw - 1
            };
            offsets.push(offset);
        }
        assert!(v.next().is_none(), "nothing after the offsets");
        (0..n)
            .map(|i| (ids[i], runs[i], lengths[i], offsets[i]))
            .collect()
    }

    impl Archive {
        pub fn read(path: &Path) -> Self {
            let bytes = std::fs::read(path).unwrap();
            assert_eq!(&bytes[..7], b"PMTiles", "magic");
            assert_eq!(bytes[7], 3, "spec version");
            let b = &bytes;
            let header = Header {
                addressed_tiles: u64_at(b, 72),
                tile_entries: u64_at(b, 80),
                tile_contents: u64_at(b, 88),
                clustered: b[96] == 1,
                internal_compression: b[97],
                tile_compression: b[98],
                tile_type: b[99],
                minzoom: b[100],
                maxzoom: b[101],
                bounds: [
                    degrees_at(b, 102),
                    degrees_at(b, 106),
                    degrees_at(b, 110),
                    degrees_at(b, 114),
                ],
                center_zoom: b[118],
                center: [degrees_at(b, 119), degrees_at(b, 123)],
            };
            assert_eq!(header.internal_compression, 2, "directories are gzip");
            let section = |at: usize| (u64_at(b, at) as usize, u64_at(b, at + 8) as usize);
            let (root, metadata, leaves, data) =
                (section(8), section(24), section(40), section(56));
            let metadata =
                serde_json::from_slice(&super::gunzip(&b[metadata.0..metadata.0 + metadata.1]))
                    .expect("metadata is JSON");
            let mut tiles = BTreeMap::new();
            let mut pending = vec![root];
            while let Some((offset, length)) = pending.pop() {
                for (id, run, len, off) in directory(&b[offset..offset + length]) {
                    if run == 0 {
                        pending.push((leaves.0 + off as usize, len as usize));
                    } else {
                        for k in 0..run {
                            let at = data.0 + off as usize;
                            assert!(at + len as usize <= data.0 + data.1, "in the data section");
                            tiles.insert(id + k, (at, len as usize));
                        }
                    }
                }
            }
            Self {
                header,
                metadata,
                bytes,
                tiles,
            }
        }

        pub fn tile(&self, z: u8, x: u32, y: u32) -> Option<&[u8]> {
            let &(at, len) = self.tiles.get(&tile_id(z, x, y))?;
            Some(&self.bytes[at..at + len])
        }

        pub fn tile_ids(&self) -> impl Iterator<Item = u64> + '_ {
            self.tiles.keys().copied()
        }
    }

    /// The spec's tile id: the tiles of all lower zooms, plus the position of
    /// (x, y) along the Hilbert curve of zoom z.
    pub fn tile_id(z: u8, x: u32, y: u32) -> u64 {
        let below: u64 = (0..z).map(|i| 1u64 << (2 * i)).sum();
        let n = 1u64 << z;
        let (mut x, mut y) = (u64::from(x), u64::from(y));
        let mut d = 0;
        let mut s = n / 2;
        while s > 0 {
            let rx = u64::from(x & s > 0);
            let ry = u64::from(y & s > 0);
            d += s * s * ((3 * rx) ^ ry);
            if ry == 0 {
                if rx == 1 {
                    x = n - 1 - x;
                    y = n - 1 - y;
                }
                std::mem::swap(&mut x, &mut y);
            }
            s /= 2;
        }
        below + d
    }

    #[test]
    fn tile_ids_are_those_of_the_spec() {
        // The spec's own examples.
        assert_eq!(tile_id(0, 0, 0), 0);
        assert_eq!(tile_id(1, 0, 0), 1);
        assert_eq!(tile_id(1, 0, 1), 2);
        assert_eq!(tile_id(1, 1, 1), 3);
        assert_eq!(tile_id(1, 1, 0), 4);
        assert_eq!(tile_id(2, 0, 0), 5);
    }
}

#[test]
fn an_export_holds_exactly_the_rendered_tiles_with_header_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("centre.pmtiles");
    let area = parcels_area();
    let summary = export(city().clone(), 12, 16, Some(area), &out).unwrap();
    let archive = spec::Archive::read(&out);

    // The header.
    let h = &archive.header;
    assert_eq!((h.minzoom, h.maxzoom), (12, 16));
    assert_eq!((h.tile_type, h.tile_compression), (1, 2), "gzipped MVT");
    assert!(h.clustered, "tiles in id order");
    for (got, want) in h.bounds.iter().zip(area) {
        assert!(
            (got - want).abs() <= 1e-7,
            "bounds {:?} vs {area:?}",
            h.bounds
        );
    }
    assert!(
        (area[0]..=area[2]).contains(&h.center[0]) && (area[1]..=area[3]).contains(&h.center[1])
    );
    assert!((12..=16).contains(&h.center_zoom));
    assert_eq!(h.addressed_tiles, summary.tiles);
    assert!(h.tile_contents <= h.tile_entries && h.tile_entries <= h.addressed_tiles);
    assert_eq!(summary.bytes, std::fs::metadata(&out).unwrap().len());

    // The metadata: every layer, in order, with its zooms within the export's and its fields.
    let m = &archive.metadata;
    assert_eq!(m["name"], "centre");
    assert!(m["description"].as_str().is_some_and(|d| !d.is_empty()));
    let vector_layers = m["vector_layers"].as_array().unwrap();
    let ids: Vec<&str> = vector_layers
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    let codes: Vec<&str> = city().iter().map(|(l, _)| l.code().as_str()).collect();
    assert_eq!(ids, codes);
    let parcels = &vector_layers[ids.iter().position(|&id| id == "parcels").unwrap()];
    assert_eq!(
        (parcels["minzoom"].as_u64(), parcels["maxzoom"].as_u64()),
        (Some(14), Some(16))
    );
    assert_eq!(parcels["fields"]["cadastral"], "String");
    assert_eq!(parcels["fields"]["area_m2"], "Number");
    assert!(parcels["description"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
    let districts = &vector_layers[ids.iter().position(|&id| id == "districts").unwrap()];
    assert_eq!(
        districts["minzoom"], 12,
        "a z0 layer starts at the export's minzoom"
    );
    assert!(
        districts["fields"].get("cadastral").is_none(),
        "only layers with numbers list them"
    );

    // Every tile of the area, at every zoom, is what the renderer makes: stored
    // gzipped when something is drawn, absent when not; and nothing else is stored.
    let mut expected_ids = BTreeSet::new();
    let (mut drawn, mut empty) = (0, 0);
    for z in 12..=16 {
        for t in tiles_over(area, z) {
            let want = rendered(city(), t);
            match archive.tile(t.z, t.x, t.y) {
                Some(gz) => {
                    assert_eq!(gunzip(gz), want, "tile {t}");
                    expected_ids.insert(spec::tile_id(t.z, t.x, t.y));
                    drawn += 1;
                }
                None => {
                    assert!(want.is_empty(), "tile {t} is drawn but not stored");
                    empty += 1;
                }
            }
        }
    }
    assert_eq!(
        archive.tile_ids().collect::<BTreeSet<_>>(),
        expected_ids,
        "no stray tiles"
    );
    assert_eq!((summary.tiles, summary.empty), (drawn, empty));
    assert!(drawn > 50, "the centre is drawn: {drawn} tiles");
}

/// `ogrinfo -so -al` parsed: layer name → (feature count, field name → type).
fn ogrinfo(args: &[&str], target: &Path) -> BTreeMap<String, (i64, BTreeMap<String, String>)> {
    let out = Command::new("ogrinfo")
        .args(["-ro", "-so", "-al"])
        .args(args)
        .arg(target)
        .output()
        .expect("ogrinfo (Debian gdal-bin) must be installed: scripts/test.sh installs it");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ogrinfo failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut layers = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("Layer name: ") {
            current = Some(name.trim().to_owned());
            layers.insert(name.trim().to_owned(), (-1, BTreeMap::new()));
        } else if let Some(layer) = current.as_ref().and_then(|c| layers.get_mut(c)) {
            if let Some(n) = line.strip_prefix("Feature Count: ") {
                layer.0 = n.trim().parse().expect("a count");
            } else if let Some((field, rest)) = line.split_once(": ") {
                // Field lines: `name: Type (width.precision)`.
                if let Some((kind, _)) = rest.split_once(" (") {
                    if !field.starts_with(' ') && !field.contains(' ') {
                        layer.1.insert(field.to_owned(), kind.to_owned());
                    }
                }
            }
        }
    }
    layers
}

fn gdal_reads_pmtiles() -> bool {
    Command::new("ogrinfo")
        .arg("--formats")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PMTiles"))
}

#[test]
fn gdal_reads_the_tiles_of_a_zoom_with_the_archive_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("centre.pmtiles");
    let area = parcels_area();
    export(city().clone(), 12, 16, Some(area), &out).unwrap();
    if gdal_reads_pmtiles() {
        let layers = ogrinfo(&["-oo", "ZOOM_LEVEL=14"], &out);
        assert!(layers.contains_key("parcels"), "{layers:?}");
    }
    // GDAL 3.6 reads a folder of MVT tiles ({z}/{x}/{y}.pbf, gzipped as stored)
    // with a metadata.json whose `json` holds the vector layers.
    let archive = spec::Archive::read(&out);
    let folder = dir.path().join("tiles");
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for t in tiles_over(area, 14) {
        let Some(gz) = archive.tile(t.z, t.x, t.y) else {
            continue;
        };
        let path = folder.join(format!("14/{}/{}.pbf", t.x, t.y));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, gz).unwrap();
        for (layer, n) in layer_counts(&rendered(city(), t)) {
            *want.entry(layer).or_default() += n;
        }
    }
    let metadata = folder.join("metadata.json");
    let json = serde_json::json!({ "vector_layers": archive.metadata["vector_layers"] });
    std::fs::write(
        &metadata,
        serde_json::json!({
            "name": archive.metadata["name"],
            "format": "pbf",
            "json": json.to_string(),
        })
        .to_string(),
    )
    .unwrap();
    let meta_option = format!("METADATA_FILE={}", metadata.display());
    let got = ogrinfo(&["-oo", "CLIP=NO", "-oo", &meta_option], &folder.join("14"));
    for (layer, n) in &want {
        let (count, _) = got
            .get(layer)
            .unwrap_or_else(|| panic!("GDAL does not list {layer}: {got:?}"));
        assert_eq!(*count, *n as i64, "features of {layer} at z14");
    }
    for (layer, (count, _)) in &got {
        assert!(
            want.contains_key(layer) || *count == 0,
            "GDAL finds {count} features of {layer}, which no tile draws"
        );
    }
    // GDAL takes the field types from the archive's metadata.
    let fields = &got["parcels"].1;
    assert_eq!(
        fields.get("cadastral").map(String::as_str),
        Some("String"),
        "{fields:?}"
    );
    assert_eq!(
        fields.get("area_m2").map(String::as_str),
        Some("Real"),
        "{fields:?}"
    );
    assert!(want["parcels"] > 0 && want["streets"] > 0, "{want:?}");
}

#[test]
fn a_refused_or_failed_export_leaves_the_existing_archive_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("city.pmtiles");
    let before = b"the archive that is being served".to_vec();
    std::fs::write(&out, &before).unwrap();
    let parcels = vec![layer("parcels")];
    let cases: Vec<(&str, Result<ExportSummary, ArchiveError>)> = vec![
        ("zooms swapped", export(parcels.clone(), 15, 14, None, &out)),
        ("zoom too deep", export(parcels.clone(), 14, 25, None, &out)),
        ("no layers", export(vec![], 14, 15, None, &out)),
        (
            "a layer twice",
            export(vec![layer("parcels"), layer("parcels")], 14, 15, None, &out),
        ),
        (
            "no layer drawn at these zooms",
            export(parcels.clone(), 0, 13, None, &out),
        ),
        (
            "a folder as output",
            export(parcels.clone(), 14, 15, None, dir.path()),
        ),
    ];
    for (what, result) in cases {
        let err = result.expect_err(what);
        assert!(!err.to_string().is_empty(), "{what}");
        assert_eq!(std::fs::read(&out).unwrap(), before, "{what}");
    }
    assert!(matches!(
        archive::check_zoom_range(15, 14),
        Err(ArchiveError::InvalidZoom { .. })
    ));
    for bad in [
        "49.3,55.7,49.0,55.9",
        "49,55.7,49.3",
        "49,55.7,49.3,north",
        "0,91,1,92",
    ] {
        assert!(
            matches!(
                bad.parse::<archive::LonLatBbox>(),
                Err(ArchiveError::InvalidBbox { .. })
            ),
            "{bad}"
        );
    }
    let known: Vec<Layer> = city().iter().map(|(l, _)| l.layer().clone()).collect();
    let err = archive::select_layers(&known, &["parcels".into(), "nope".into()]).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::UnknownLayer { name, known } if name == "nope" && known.contains("parcels")),
        "{err}"
    );
    // An internal layer is never put into an archive (archives are public).
    let mut hidden = known.clone();
    hidden[0].spec.public = false;
    let code = hidden[0].code().to_string();
    let err = archive::select_layers(&hidden, std::slice::from_ref(&code)).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::InternalLayer(c) if *c == code),
        "{err}"
    );
    let all = archive::select_layers(&hidden, &[]).unwrap();
    assert!(all.iter().all(|l| l.code().as_str() != code) && all.len() == known.len() - 1);
    // Nothing was left beside it either.
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["city.pmtiles"]);
    // A successful export replaces it whole.
    let summary = export(parcels, 14, 15, None, &out).unwrap();
    assert_eq!(
        spec::Archive::read(&out).header.addressed_tiles,
        summary.tiles
    );
}

#[tokio::test]
async fn the_archive_set_serves_what_was_exported_and_skips_what_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let layers = vec![layer("districts"), layer("streets")];
    // No area: the layers' extent.
    let summary = export(
        layers.clone(),
        11,
        13,
        None,
        &dir.path().join("city.pmtiles"),
    )
    .unwrap();
    assert!(summary.tiles > 0);
    std::fs::copy(
        dir.path().join("city.pmtiles"),
        dir.path().join("Bad Name.pmtiles"),
    )
    .unwrap();
    std::fs::write(dir.path().join("junk.pmtiles"), b"not an archive").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"notes").unwrap();
    std::fs::write(dir.path().join(".city.pmtiles.7.part"), b"half").unwrap();

    let set = ArchiveSet::open_dir(dir.path()).await.unwrap();
    assert_eq!(set.names().collect::<Vec<_>>(), ["city"]);
    assert!(set.get("junk").is_none() && set.get("Bad Name").is_none());
    let city = set.get("city").unwrap();
    assert!(city.is_gzip());
    assert_eq!((city.minzoom(), city.maxzoom()), (11, 13));
    let extent = layers
        .iter()
        .filter_map(|(l, _)| l.extent())
        .map(edges)
        .reduce(|a, b| {
            [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ]
        })
        .unwrap();
    for (got, want) in city.bounds().iter().zip(extent) {
        assert!(
            (got - want).abs() <= 1e-7,
            "{:?} vs {extent:?}",
            city.bounds()
        );
    }

    // Tiles as stored, and as the renderer makes them.
    let independent = spec::Archive::read(&dir.path().join("city.pmtiles"));
    let mut seen = 0;
    for t in tiles_over(extent, 12) {
        let got = city.tile(t.z, t.x, t.y).await.unwrap();
        assert_eq!(got.as_deref(), independent.tile(t.z, t.x, t.y), "tile {t}");
        if let Some(gz) = got {
            assert_eq!(
                archive::gunzip(&gz).unwrap().as_ref(),
                rendered(&layers, t).as_slice()
            );
            seen += 1;
        }
    }
    assert!(seen > 0);
    assert_eq!(
        city.tile(14, 10_426, 5_118).await.unwrap(),
        None,
        "above maxzoom"
    );
    assert_eq!(city.tile(11, 0, 0).await.unwrap(), None, "outside the area");
    assert!(matches!(
        city.tile(3, 8, 0).await,
        Err(ArchiveError::Tile(_))
    ));

    let tj = city.tilejson("http://maps.example/archives/city");
    assert_eq!(tj["tilejson"], "3.0.0");
    assert_eq!(
        tj["tiles"][0],
        "http://maps.example/archives/city/{z}/{x}/{y}.mvt"
    );
    assert_eq!(
        (tj["minzoom"].as_u64(), tj["maxzoom"].as_u64()),
        (Some(11), Some(13))
    );
    assert_eq!(tj["vector_layers"].as_array().map(Vec::len), Some(2));
    assert_eq!(tj["name"], "city");

    // A missing folder is an empty set.
    let none = ArchiveSet::open_dir(&dir.path().join("missing"))
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn the_server_answers_archive_tiles_and_tilejson() {
    let dir = tempfile::tempdir().unwrap();
    let tiles_dir = dir.path().join("tiles");
    let area = parcels_area();
    export(
        city().clone(),
        14,
        15,
        Some(area),
        &tiles_dir.join("centre.pmtiles"),
    )
    .unwrap();
    let independent = spec::Archive::read(&tiles_dir.join("centre.pmtiles"));
    let (_store_dir, store) = crate::common::gpkg_store().await;
    let mut config = imgis::config::Config::for_store(imgis::config::StoreConfig::Gpkg {
        path: "unused".into(),
    });
    config.tiles_dir = tiles_dir;
    let app = imgis::app::App::with_store(config, Arc::new(store))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(imgis::app::run(app, listener, async {
        stopped.await.ok();
    }));
    let client = reqwest::Client::new();
    let get = |path: String, gzip: bool| {
        let mut r = client.get(format!("http://{addr}{path}"));
        if gzip {
            r = r.header("accept-encoding", "gzip, br");
        }
        r.send()
    };

    let list: serde_json::Value = get("/archives".into(), false)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["archives"][0]["name"], "centre");
    assert_eq!(
        list["archives"][0]["links"][0]["href"],
        "/archives/centre.json"
    );

    let r = get("/archives/centre.json".into(), false).await.unwrap();
    assert_eq!(r.status(), 200);
    let tj: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        tj["tiles"][0],
        format!("http://{addr}/archives/centre/{{z}}/{{x}}/{{y}}.mvt")
    );

    let t = tiles_over(area, 15)
        .into_iter()
        .find(|t| independent.tile(t.z, t.x, t.y).is_some())
        .unwrap();
    let stored = independent.tile(t.z, t.x, t.y).unwrap();
    let path = format!("/archives/centre/{}/{}/{}.mvt", t.z, t.x, t.y);
    let r = get(path.clone(), true).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.mapbox-vector-tile"
    );
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(r.bytes().await.unwrap().as_ref(), stored, "sent as stored");
    let r = get(path, false).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-encoding").is_none());
    let plain = r.bytes().await.unwrap();
    assert_eq!(
        plain.as_ref(),
        gunzip(stored).as_slice(),
        "inflated for a client without gzip"
    );
    assert!(layer_counts(&plain).contains_key("parcels"));

    // A tile the archive does not hold, an unknown archive, bad addresses.
    let r = get("/archives/centre/15/0/0.mvt".into(), true)
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = get("/archives/nowhere.json".into(), false).await.unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unknown_archive");
    assert_eq!(
        get("/archives/nowhere/1/0/0.mvt".into(), false)
            .await
            .unwrap()
            .status(),
        404
    );
    for bad in [
        "/archives/centre/3/8/0.mvt",
        "/archives/centre/x/0/0.mvt",
        "/archives/centre/30/0/0.mvt",
    ] {
        let r = get(bad.into(), false).await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_tile", "{bad}");
    }

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

fn imgis(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imgis"))
        .args(args)
        .current_dir(cwd)
        .env_remove("IMGIS_DATABASE")
        .env_remove("IMGIS_GPKG")
        .env_remove("IMGIS_CONFIG")
        .output()
        .expect("running imgis")
}

#[test]
fn the_command_exports_named_layers_from_the_geopackage() {
    let dir = tempfile::tempdir().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let out = imgis(
        &["demo", "--gpkg", "tmp.gpkg", "--parcels", "500"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Each flag once: clap refuses a repeated one.
    let export_args = |layers: &'static str, minzoom: &'static str, maxzoom: &'static str| {
        vec![
            "tiles",
            "export",
            "--gpkg",
            "tmp.gpkg",
            "--layers",
            layers,
            "--minzoom",
            minzoom,
            "--maxzoom",
            maxzoom,
            "--out",
            "tmp/city.pmtiles",
            "--quiet",
        ]
    };
    let out = imgis(&export_args("parcels,streets", "13", "15"), dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = stdout.trim();
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    let (tiles, rest) = line.split_once(" tiles, ").expect("`N tiles, …`");
    let tiles: u64 = tiles.parse().expect("a tile count");
    assert!(
        rest.contains(" MB written to tmp/city.pmtiles in ") && rest.contains(" s"),
        "{line}"
    );

    let path: PathBuf = dir.path().join("tmp/city.pmtiles");
    let archive = spec::Archive::read(&path);
    assert_eq!((archive.header.minzoom, archive.header.maxzoom), (13, 15));
    assert_eq!(archive.header.addressed_tiles, tiles);
    let ids: Vec<&str> = archive.metadata["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["parcels", "streets"], "in the order named");
    let [west, south, east, north] = archive.header.bounds;
    let z14 = tiles_over([west, south, east, north], 14);
    let mut names = BTreeSet::new();
    for t in &z14 {
        if let Some(gz) = archive.tile(t.z, t.x, t.y) {
            names.extend(layer_counts(&gunzip(gz)).into_keys());
        }
    }
    assert_eq!(
        names,
        BTreeSet::from(["parcels".to_owned(), "streets".to_owned()])
    );
    if gdal_reads_pmtiles() {
        let layers = ogrinfo(&[], &path);
        assert!(
            layers.contains_key("parcels") && layers.contains_key("streets"),
            "{layers:?}"
        );
    }

    // Refusals: a clear message, the archive untouched, nothing left beside it.
    let before = std::fs::read(&path).unwrap();
    let mut with_bbox = export_args("parcels,streets", "13", "15");
    with_bbox.extend(["--bbox", "49.3,55.7,49.0,55.9"]);
    for (args, message) in [
        (
            export_args("parcels,nope", "13", "15"),
            "layer 'nope' does not exist",
        ),
        (with_bbox, "bbox '49.3,55.7,49.0,55.9' is not valid"),
        (
            export_args("parcels,streets", "16", "15"),
            "minzoom must not exceed maxzoom",
        ),
        (
            export_args("parcels,streets", "13", "25"),
            "maxzoom must not exceed 24",
        ),
    ] {
        let extra = args.join(" ");
        let out = imgis(&args, dir.path());
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{extra:?} must fail");
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "{extra:?}");
    }
    let files: Vec<String> = std::fs::read_dir(dir.path().join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["city.pmtiles"]);
}
