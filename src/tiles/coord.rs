//! Tile addresses in the `WebMercatorQuad` tile matrix set (EPSG:3857, XYZ
//! numbering: x grows east, y grows south, tile 0/0/0 covers the world), and the
//! projection from storage lon/lat to a tile's pixel space.

use std::f64::consts::{FRAC_PI_4, PI};

use geo_types::{coord, Coord, Rect};

use super::TileError;

/// The deepest zoom served. At z24 a tile is about 2.4 m wide at the equator and
/// a tile pixel (extent 4096) well under a millimetre: finer than any cadastre.
pub const MAX_ZOOM: u8 = 24;

/// Latitude where Web Mercator's square world ends, degrees (±85.0511…):
/// `atan(sinh(π))`. Coordinates beyond it are clamped to it.
pub const MAX_LAT_DEG: f64 = 85.051_128_779_806_59;

/// Half the width of the Web Mercator world, EPSG:3857 metres (π × 6 378 137).
pub const MERCATOR_HALF_WORLD_M: f64 = 20_037_508.342_789_244;

/// One tile of the `WebMercatorQuad` pyramid, XYZ numbering (y = 0 is the northern
/// row). Validated: `z <= MAX_ZOOM` and `x, y < 2^z`.
///
/// # Examples
/// ```
/// use imgis::tiles::TileCoord;
/// let t = TileCoord::new(1, 1, 0).unwrap();
/// let b = t.bounds_lonlat();
/// assert_eq!((b.min().x, b.max().x), (0.0, 180.0));
/// assert!((b.max().y - 85.0511).abs() < 1e-4 && b.min().y.abs() < 1e-9);
/// assert!(TileCoord::new(1, 2, 0).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileCoord {
    /// Zoom level, 0 ..= [`MAX_ZOOM`].
    pub z: u8,
    /// Column, 0 at longitude −180°.
    pub x: u32,
    /// Row, 0 at latitude +85.0511°.
    pub y: u32,
}

impl TileCoord {
    /// A checked tile address.
    ///
    /// # Errors
    /// [`TileError::InvalidCoord`] when `z > 24` or `x` or `y` is not below `2^z`.
    pub fn new(z: u8, x: u32, y: u32) -> Result<Self, TileError> {
        if z > MAX_ZOOM || x >= 1 << z || y >= 1 << z {
            return Err(TileError::InvalidCoord { z, x, y });
        }
        Ok(Self { z, x, y })
    }

    /// Number of tiles along each axis at this zoom, `2^z`.
    fn matrix_size(self) -> f64 {
        f64::from(1u32 << self.z)
    }

    /// The tile's area in EPSG:4326 lon/lat degrees (x = longitude, y = latitude).
    #[must_use]
    pub fn bounds_lonlat(&self) -> Rect<f64> {
        self.bounds_lonlat_grown(0.0)
    }

    /// The tile's area grown by `margin` tile widths on every side (0.0 is the
    /// tile itself), lon/lat degrees, clipped to the Web Mercator world.
    pub(crate) fn bounds_lonlat_grown(&self, margin: f64) -> Rect<f64> {
        let n = self.matrix_size();
        let (x, y) = (f64::from(self.x), f64::from(self.y));
        let west = world_to_lonlat((x - margin) / n, (y + 1.0 + margin) / n);
        let east = world_to_lonlat((x + 1.0 + margin) / n, (y - margin) / n);
        Rect::new(west, east)
    }

    /// The tile's area in EPSG:3857 metres.
    #[must_use]
    pub fn bounds_mercator(&self) -> Rect<f64> {
        let size_m = 2.0 * MERCATOR_HALF_WORLD_M / self.matrix_size();
        let min_x = -MERCATOR_HALF_WORLD_M + f64::from(self.x) * size_m;
        let max_y = MERCATOR_HALF_WORLD_M - f64::from(self.y) * size_m;
        Rect::new(
            coord! { x: min_x, y: max_y - size_m },
            coord! { x: min_x + size_m, y: max_y },
        )
    }
}

impl std::fmt::Display for TileCoord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

/// Normalized world coordinates (0..1 from the west edge, 0..1 from the north
/// edge of the Web Mercator square, clamped to it) → lon/lat degrees.
fn world_to_lonlat(u: f64, v: f64) -> Coord<f64> {
    let (u, v) = (u.clamp(0.0, 1.0), v.clamp(0.0, 1.0));
    coord! {
        x: u * 360.0 - 180.0,
        y: (PI * (1.0 - 2.0 * v)).sinh().atan().to_degrees(),
    }
}

/// Spherical Web Mercator northing of a latitude, in units of the Earth's
/// radius (ln tan(π/4 + φ/2)); latitude clamped to ±[`MAX_LAT_DEG`], so the
/// result lies in −π ..= π.
#[inline]
pub(crate) fn mercator_y_unit(lat_deg: f64) -> f64 {
    let lat = lat_deg.clamp(-MAX_LAT_DEG, MAX_LAT_DEG).to_radians();
    (FRAC_PI_4 + 0.5 * lat).tan().ln()
}

/// The map from lon/lat degrees to one tile's pixel space: x east 0 ..= extent,
/// y *down* 0 ..= extent, through spherical Web Mercator. It is closed-form (no
/// PROJ): EPSG:3857 is defined on the sphere.
///
/// Longitude maps linearly. Latitude's `ln tan` costs two libm calls per vertex,
/// a tenth of a dense tile's time; near the tile (within one tile height of its
/// centre, from z10 on) a cubic Taylor polynomial stands in for it. Its error is
/// about `6 sin φ · c⁴ · (2π)³ · extent / (24 · 8^z)` tile pixels at `c` tile
/// heights from the centre: below 0.001 px at z10 and shrinking 8× per zoom, far
/// under the rounding to whole pixels. Farther vertices take the exact formula.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TileTransform {
    /// Tile pixels per degree of longitude.
    px_per_deg: f64,
    /// Tile pixels per unit of Mercator northing (Earth radii).
    px_per_unit_y: f64,
    /// World pixel column of the tile's west edge (longitude −180° is 0).
    origin_x_px: f64,
    /// Mercator northing of the tile's north edge, in tile pixels.
    origin_y_px: f64,
    /// Centre latitude of the Taylor polynomial, degrees.
    taylor_lat_deg: f64,
    /// Latitudes within this many degrees of the centre use the polynomial;
    /// −1 (none) below z10.
    taylor_window_deg: f64,
    /// Tile-pixel y = c0 + c1·d + c2·d² + c3·d³, d in degrees from the centre.
    taylor: [f64; 4],
}

/// The first zoom at which [`TileTransform`] uses its polynomial.
const TAYLOR_MIN_ZOOM: u8 = 10;

impl TileTransform {
    pub(crate) fn new(tile: TileCoord, extent: u32) -> Self {
        let world_px = tile.matrix_size() * f64::from(extent);
        let px_per_unit_y = world_px / (2.0 * PI);
        let mut t = Self {
            px_per_deg: world_px / 360.0,
            px_per_unit_y,
            origin_x_px: f64::from(tile.x) * f64::from(extent),
            // The north edge of row 0 is at Mercator northing +π.
            origin_y_px: PI * px_per_unit_y - f64::from(tile.y) * f64::from(extent),
            taylor_lat_deg: 0.0,
            taylor_window_deg: -1.0,
            taylor: [0.0; 4],
        };
        if tile.z >= TAYLOR_MIN_ZOOM {
            let b = tile.bounds_lonlat();
            let centre = world_to_lonlat(0.5, (f64::from(tile.y) + 0.5) / tile.matrix_size()).y;
            // Derivatives of y(lat) = origin − k·ln tan(π/4 + φ/2), per degree.
            let (k, r) = (px_per_unit_y, PI / 180.0);
            let phi = centre.to_radians();
            let (sec, tan) = (1.0 / phi.cos(), phi.tan());
            t.taylor_lat_deg = centre;
            t.taylor_window_deg = b.height();
            t.taylor = [
                t.origin_y_px - k * mercator_y_unit(centre),
                -k * r * sec,
                -k * r * r * sec * tan / 2.0,
                -k * r * r * r * sec * (tan * tan + sec * sec) / 6.0,
            ];
        }
        t
    }

    /// A lon/lat degree coordinate in this tile's pixels (y down); not clipped.
    #[inline]
    pub(crate) fn pixel(&self, lonlat: Coord<f64>) -> [f64; 2] {
        let lat = lonlat.y.clamp(-MAX_LAT_DEG, MAX_LAT_DEG);
        let d = lat - self.taylor_lat_deg;
        let y = if d.abs() <= self.taylor_window_deg {
            let c = &self.taylor;
            c[0] + d * (c[1] + d * (c[2] + d * c[3]))
        } else {
            self.exact_y(lat)
        };
        [(lonlat.x + 180.0) * self.px_per_deg - self.origin_x_px, y]
    }

    fn exact_y(&self, lat_deg: f64) -> f64 {
        self.origin_y_px - mercator_y_unit(lat_deg) * self.px_per_unit_y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, eps: f64) -> bool {
        (a - b).abs() <= eps
    }

    #[test]
    fn coordinates_are_validated() {
        assert!(TileCoord::new(0, 0, 0).is_ok());
        assert!(TileCoord::new(24, (1 << 24) - 1, (1 << 24) - 1).is_ok());
        assert!(TileCoord::new(25, 0, 0).is_err());
        assert!(TileCoord::new(255, 0, 0).is_err());
        assert!(TileCoord::new(0, 1, 0).is_err());
        assert!(TileCoord::new(0, 0, 1).is_err());
        assert!(TileCoord::new(10, 1024, 5).is_err());
        assert!(TileCoord::new(10, 5, 1024).is_err());
        assert!(TileCoord::new(10, 1023, 1023).is_ok());
    }

    #[test]
    fn zoom_zero_covers_the_mercator_world() {
        let t = TileCoord::new(0, 0, 0).unwrap();
        let b = t.bounds_lonlat();
        assert_eq!((b.min().x, b.max().x), (-180.0, 180.0));
        assert!(close(b.min().y, -85.0511, 1e-4) && close(b.max().y, 85.0511, 1e-4));
        let m = t.bounds_mercator();
        assert!(close(m.min().x, -20_037_508.34, 0.01));
        assert!(close(m.max().y, 20_037_508.34, 0.01));
    }

    #[test]
    fn known_tiles_have_known_bounds() {
        // Expected values computed apart from this code (Python, the OSM wiki's
        // slippy-map formulas and EPSG:3857's half-world of 20 037 508.34 m).
        let t = TileCoord::new(10, 632, 322).unwrap();
        let b = t.bounds_lonlat();
        assert!(close(b.min().x, 42.1875, 1e-9), "{b:?}");
        assert!(close(b.max().x, 42.539_062_5, 1e-9), "{b:?}");
        assert!(close(b.min().y, 55.178_867_66, 1e-6), "{b:?}");
        assert!(close(b.max().y, 55.379_110_45, 1e-6), "{b:?}");
        let m = t.bounds_mercator();
        assert!(close(m.min().x, 4_696_291.017, 0.01), "{m:?}");
        assert!(close(m.max().x, 4_735_426.775, 0.01), "{m:?}");
        assert!(close(m.max().y, 7_435_794.112, 0.01), "{m:?}");
        assert!(close(m.min().y, 7_396_658.353, 0.01), "{m:?}");
    }

    #[test]
    fn the_transform_maps_the_tile_corners_to_zero_and_extent() {
        let t = TileCoord::new(10, 632, 322).unwrap();
        let b = t.bounds_lonlat();
        let tf = TileTransform::new(t, 4096);
        let nw = tf.pixel(coord! { x: b.min().x, y: b.max().y });
        let se = tf.pixel(coord! { x: b.max().x, y: b.min().y });
        // Within 1e-4 px: the Taylor polynomial's error at z10 (see `TileTransform`).
        assert!(close(nw[0], 0.0, 1e-6) && close(nw[1], 0.0, 1e-4), "{nw:?}");
        assert!(
            close(se[0], 4096.0, 1e-6) && close(se[1], 4096.0, 1e-4),
            "{se:?}"
        );
        // Beyond the Mercator square, latitude is clamped.
        let z0 = TileTransform::new(TileCoord::new(0, 0, 0).unwrap(), 4096);
        assert!(close(z0.pixel(coord! { x: 0.0, y: 90.0 })[1], 0.0, 1e-6));
        assert!(close(
            z0.pixel(coord! { x: 0.0, y: -90.0 })[1],
            4096.0,
            1e-6
        ));
    }

    #[test]
    fn the_fast_latitude_agrees_with_the_exact_one_to_a_hundredth_of_a_pixel() {
        for z in [10u8, 12, 14, 16, 20, 24] {
            for lat in [0.0, 33.3, 55.7989, 70.0, 84.9, -55.7989] {
                let n = f64::from(1u32 << z);
                let y = ((1.0 - mercator_y_unit(lat) / PI) / 2.0 * n) as u32;
                let t = TileCoord::new(z, 5, y.min((1 << z) - 1)).unwrap();
                let tf = TileTransform::new(t, 4096);
                assert!(tf.taylor_window_deg > 0.0);
                let b = t.bounds_lonlat();
                // Across the tile, its buffer, and out past the window's edges.
                for i in -40..=40 {
                    let lat = b.center().y + f64::from(i) / 20.0 * b.height();
                    let fast = tf.pixel(coord! { x: 0.0, y: lat })[1];
                    let exact = tf.exact_y(lat.clamp(-MAX_LAT_DEG, MAX_LAT_DEG));
                    assert!(
                        (fast - exact).abs() < 0.01,
                        "z{z} lat {lat}: {fast} vs {exact}"
                    );
                }
            }
        }
    }

    #[test]
    fn grown_bounds_add_the_margin_and_stop_at_the_world_edge() {
        let t = TileCoord::new(1, 0, 0).unwrap();
        let b = t.bounds_lonlat_grown(0.5);
        assert_eq!(b.min().x, -180.0, "clamped at the antimeridian");
        assert!(close(b.max().x, 90.0, 1e-9));
        assert!(close(b.max().y, MAX_LAT_DEG, 1e-9));
        assert!(b.min().y < 0.0);
    }
}
