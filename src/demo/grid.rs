//! The street grid: rectangular blocks between straight streets, axis-aligned in
//! EPSG:32639 (metres), with grid lines 0 through the city centre.
//!
//! Cell `(i, j)` spans from street centre line `i` to `i + 1` (x, vertical streets)
//! and from line `j` to `j + 1` (y, horizontal streets). Its block is the cell
//! less half of each bounding street. Every [`MAIN_EVERY`]-th line is a main
//! street, wider than the others, so blocks keep one size everywhere.

use geo::{Distance, Euclidean};
use geo_types::{coord, Coord, Geometry, LineString, Point, Polygon, Rect};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::outline::{inside, District, Region};
use super::Draft;
use crate::model::props;

/// Block width (along x), metres.
pub(super) const BLOCK_W_M: f64 = 120.0;
/// Block depth (along y), metres.
pub(super) const BLOCK_H_M: f64 = 80.0;
/// Width of a local street between the blocks' fronts, metres.
pub(super) const STREET_M: f64 = 20.0;
/// Width of a main street, metres.
pub(super) const MAIN_STREET_M: f64 = 30.0;
/// Every this-many-th grid line (counted from the centre) is a main street.
pub(super) const MAIN_EVERY: i64 = 5;

/// Parcel columns per block row at the base size; more when the city must hold
/// more parcels than the outlines allow at this size.
pub(super) const BASE_COLUMNS: usize = 6;
/// The finest subdivision: 30 columns make 4-metre frontages, about the least
/// a town-house plot has.
pub(super) const MAX_COLUMNS: usize = 30;
/// Parcel rows per block: one facing each long side's street.
pub(super) const ROWS: usize = 2;

/// Whether grid line `k` (either axis) is a main street.
pub(super) fn is_main(k: i64) -> bool {
    k.rem_euclid(MAIN_EVERY) == 0
}

/// Width of the street on grid line `k`, metres.
pub(super) fn street_width_m(k: i64) -> f64 {
    if is_main(k) {
        MAIN_STREET_M
    } else {
        STREET_M
    }
}

/// Offset of grid line `k` from line 0, metres, for blocks `block_m` long
/// along this axis: each step is a block plus half of each bounding street.
fn line_offset_m(k: i64, block_m: f64) -> f64 {
    // Number of main lines in [0, k), negative for k < 0 (a closed form of the
    // running sum keeps any line's position O(1)).
    let mains_before = |k: i64| (k + MAIN_EVERY - 1).div_euclid(MAIN_EVERY);
    let extra = (MAIN_STREET_M - STREET_M) / 2.0;
    #[allow(clippy::cast_precision_loss)] // grid indices stay far below 2^52
    let offset = k as f64 * (block_m + STREET_M)
        + extra * (mains_before(k) + mains_before(k + 1) - 1) as f64;
    offset
}

/// The grid over the city's bounding box.
pub(super) struct Grid {
    /// The city centre (the Kazan Kremlin), EPSG:32639 metres; lines 0 pass through it.
    pub centre: Coord<f64>,
    /// Cells are `(i, j)` with `i` in `i0..i1` and `j` in `j0..j1`.
    pub i0: i64,
    pub i1: i64,
    pub j0: i64,
    pub j1: i64,
}

impl Grid {
    /// The smallest grid whose cells cover `bounds` (metres).
    pub fn covering(centre: Coord<f64>, bounds: Rect<f64>) -> Self {
        let mut g = Grid {
            centre,
            i0: 0,
            i1: 0,
            j0: 0,
            j1: 0,
        };
        let first = |pos: &dyn Fn(i64) -> f64, v: f64| {
            // Largest k with pos(k) <= v, walking from a close estimate.
            #[allow(clippy::cast_possible_truncation)]
            let mut k = ((v - pos(0)) / (BLOCK_W_M.min(BLOCK_H_M) + STREET_M)).floor() as i64;
            while pos(k) > v {
                k -= 1;
            }
            while pos(k + 1) <= v {
                k += 1;
            }
            k
        };
        let x = |i: i64| centre.x + line_offset_m(i, BLOCK_W_M);
        let y = |j: i64| centre.y + line_offset_m(j, BLOCK_H_M);
        g.i0 = first(&x, bounds.min().x);
        g.i1 = first(&x, bounds.max().x) + 1;
        g.j0 = first(&y, bounds.min().y);
        g.j1 = first(&y, bounds.max().y) + 1;
        g
    }

    /// Easting of vertical street centre line `i`, metres.
    pub fn x(&self, i: i64) -> f64 {
        self.centre.x + line_offset_m(i, BLOCK_W_M)
    }

    /// Northing of horizontal street centre line `j`, metres.
    pub fn y(&self, j: i64) -> f64 {
        self.centre.y + line_offset_m(j, BLOCK_H_M)
    }

    /// Cell `(i, j)` between street centre lines, metres.
    pub fn cell(&self, i: i64, j: i64) -> Rect<f64> {
        Rect::new(
            coord! { x: self.x(i), y: self.y(j) },
            coord! { x: self.x(i + 1), y: self.y(j + 1) },
        )
    }

    /// The block of cell `(i, j)`: the cell less the streets, metres.
    pub fn block(&self, i: i64, j: i64) -> Rect<f64> {
        Rect::new(
            coord! { x: self.x(i) + street_width_m(i) / 2.0, y: self.y(j) + street_width_m(j) / 2.0 },
            coord! { x: self.x(i + 1) - street_width_m(i + 1) / 2.0, y: self.y(j + 1) - street_width_m(j + 1) / 2.0 },
        )
    }

    pub fn width(&self) -> usize {
        usize::try_from(self.i1 - self.i0).expect("i1 >= i0 by construction")
    }

    pub fn height(&self) -> usize {
        usize::try_from(self.j1 - self.j0).expect("j1 >= j0 by construction")
    }

    /// Row-major index of cell `(i, j)`, `None` outside the grid.
    pub fn index(&self, i: i64, j: i64) -> Option<usize> {
        if (self.i0..self.i1).contains(&i) && (self.j0..self.j1).contains(&j) {
            let (di, dj) = (
                usize::try_from(i - self.i0).ok()?,
                usize::try_from(j - self.j0).ok()?,
            );
            Some(dj * self.width() + di)
        } else {
            None
        }
    }
}

/// The cells a block may stand on, in centre-outward order: the whole cell
/// (block and its half of the streets) inside the city and clear of the rivers.
pub(super) fn buildable_cells(grid: &Grid, city: &Region, rivers: &Region) -> Vec<(i64, i64)> {
    let mut out: Vec<(f64, i64, i64)> = Vec::new();
    for j in grid.j0..grid.j1 {
        let yc = f64::midpoint(grid.y(j), grid.y(j + 1));
        let (in_city, in_river) = (city.crossings(yc), rivers.crossings(yc));
        for i in grid.i0..grid.i1 {
            let xc = f64::midpoint(grid.x(i), grid.x(i + 1));
            if !inside(&in_city, xc) || inside(&in_river, xc) {
                continue;
            }
            let cell = grid.cell(i, j);
            if city.touches(cell) || rivers.touches(cell) {
                continue;
            }
            let c = grid.block(i, j).center();
            let d2 = (c.x - grid.centre.x).powi(2) + (c.y - grid.centre.y).powi(2);
            out.push((d2, j, i));
        }
    }
    // Ties (cells symmetric about the centre) are broken by position, never by chance.
    out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    out.into_iter().map(|(_, j, i)| (i, j)).collect()
}

/// Parcel columns per block row so that `blocks` buildable blocks hold `parcels`.
pub(super) fn columns_for(parcels: usize, blocks: usize) -> Option<usize> {
    let per_block = parcels.div_ceil(blocks.max(1));
    let columns = per_block.div_ceil(ROWS).max(BASE_COLUMNS);
    (columns <= MAX_COLUMNS && blocks > 0).then_some(columns)
}

/// A built block: one cadastral quarter.
pub(super) struct Block {
    pub i: i64,
    pub j: i64,
    /// The block's rectangle, metres.
    pub rect: Rect<f64>,
    /// Index into the districts (file order) of the district holding the block centre.
    pub district: usize,
    /// The quarter's cadastral number, `16:50:DDNNNN` (or `16:50:DDNNNNN`).
    pub quarter: String,
    /// How many parcels the block holds: all `ROWS × columns` but in the last block.
    pub parcels: usize,
}

/// Gives each cell its district and quarter number, in centre-outward order.
pub(super) fn number_blocks(
    grid: &Grid,
    cells: &[(i64, i64)],
    districts: &[District],
    regions: &[Region],
    per_block: usize,
    parcels: usize,
) -> Vec<Block> {
    // Crossings of each district at each row's block centre line, computed once per row.
    let mut rows: std::collections::BTreeMap<i64, Vec<Vec<f64>>> =
        std::collections::BTreeMap::new();
    let mut district_of = Vec::with_capacity(cells.len());
    for &(i, j) in cells {
        let centre = grid.block(i, j).center();
        let crossings = rows
            .entry(j)
            .or_insert_with(|| regions.iter().map(|r| r.crossings(centre.y)).collect());
        let d = crossings
            .iter()
            .position(|c| inside(c, centre.x))
            .unwrap_or_else(|| {
                // On a shared border to the float: the nearest district takes it.
                let p = Point::from(centre);
                (0..districts.len())
                    .min_by(|&a, &b| {
                        Euclidean
                            .distance(&districts[a].metric, &p)
                            .total_cmp(&Euclidean.distance(&districts[b].metric, &p))
                    })
                    .expect("there is at least one district")
            });
        district_of.push(d);
    }
    let mut totals = vec![0usize; districts.len()];
    for &d in &district_of {
        totals[d] += 1;
    }
    let mut next = vec![0usize; districts.len()];
    let mut left = parcels;
    cells
        .iter()
        .zip(district_of)
        .map(|(&(i, j), d)| {
            next[d] += 1;
            // The quarter number has 4 digits, or 5 where a district outgrows them
            // (a 7-digit quarter is a valid cadastral shape).
            let quarter = if totals[d] > 9999 {
                format!("16:50:{:02}{:05}", d + 1, next[d])
            } else {
                format!("16:50:{:02}{:04}", d + 1, next[d])
            };
            let n = left.min(per_block);
            left -= n;
            Block {
                i,
                j,
                rect: grid.block(i, j),
                district: d,
                quarter,
                parcels: n,
            }
        })
        .collect()
}

/// The quarters layer: one feature per block.
pub(super) fn quarter_drafts(blocks: &[Block], districts: &[District]) -> Vec<Draft> {
    blocks
        .iter()
        .map(|b| {
            Draft::new(
                Geometry::Polygon(b.rect.to_polygon()),
                props([
                    ("quarter", json!(b.quarter)),
                    ("district", json!(districts[b.district].name)),
                ]),
            )
        })
        .collect()
}

/// One land plot, before it gets its attributes.
pub(super) struct ParcelShape {
    /// Index into the blocks.
    pub block: usize,
    /// 0: the row facing the street below the block (line `j`); 1: the one above (`j + 1`).
    pub row: usize,
    /// Column from the west, `0..columns`.
    pub col: usize,
    /// The plot number within the quarter, from 1.
    pub number: usize,
    /// Metres; a convex quadrilateral, counter-clockwise.
    pub polygon: Polygon<f64>,
}

/// Cuts every block into `ROWS × columns` plots. The inner boundaries are
/// jittered (deterministically, from `rng`) so that plots differ in shape; a
/// block always draws the same amount of randomness, so at a given number of
/// columns the plots of the first blocks do not depend on how many blocks follow.
pub(super) fn parcels(blocks: &[Block], columns: usize, rng: &mut ChaCha8Rng) -> Vec<ParcelShape> {
    let mut out = Vec::with_capacity(blocks.iter().map(|b| b.parcels).sum());
    #[allow(clippy::cast_precision_loss)]
    let cols = columns as f64;
    for (b, block) in blocks.iter().enumerate() {
        let (min, max) = (block.rect.min(), block.rect.max());
        let width = (max.x - min.x) / cols;
        let depth = max.y - min.y;
        // The line between the two rows, a little tilted: y at the west and east ends.
        let mid_w = min.y + depth / 2.0 + rng.random_range(-0.05..0.05) * depth;
        let mid_e = min.y + depth / 2.0 + rng.random_range(-0.05..0.05) * depth;
        let mid_y = |x: f64| mid_w + (mid_e - mid_w) * (x - min.x) / (max.x - min.x);
        // Column boundaries per row at the street front and at the middle line; a
        // jitter of at most 15 % of a column keeps the quadrilaterals convex.
        let mut bounds = [
            [vec![0.0; columns + 1], vec![0.0; columns + 1]],
            [vec![0.0; columns + 1], vec![0.0; columns + 1]],
        ];
        for row in &mut bounds {
            for side in row.iter_mut() {
                for (k, x) in side.iter_mut().enumerate() {
                    #[allow(clippy::cast_precision_loss)]
                    let base = min.x + k as f64 * width;
                    *x = if k == 0 {
                        min.x
                    } else if k == columns {
                        max.x
                    } else {
                        base + rng.random_range(-0.15..0.15) * width
                    };
                }
            }
        }
        for n in 0..block.parcels {
            let (row, col) = (n / columns, n % columns);
            let [front, middle] = &bounds[row];
            let (f0, f1, m0, m1) = (front[col], front[col + 1], middle[col], middle[col + 1]);
            let ring = if row == 0 {
                vec![
                    coord! { x: f0, y: min.y },
                    coord! { x: f1, y: min.y },
                    coord! { x: m1, y: mid_y(m1) },
                    coord! { x: m0, y: mid_y(m0) },
                    coord! { x: f0, y: min.y },
                ]
            } else {
                vec![
                    coord! { x: m0, y: mid_y(m0) },
                    coord! { x: m1, y: mid_y(m1) },
                    coord! { x: f1, y: max.y },
                    coord! { x: f0, y: max.y },
                    coord! { x: m0, y: mid_y(m0) },
                ]
            };
            out.push(ParcelShape {
                block: b,
                row,
                col,
                number: n + 1,
                polygon: Polygon::new(LineString::new(ring), vec![]),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_step_by_a_block_and_half_of_each_street() {
        for block in [BLOCK_W_M, BLOCK_H_M] {
            assert_eq!(line_offset_m(0, block), 0.0);
            for k in -23..23 {
                let step = line_offset_m(k + 1, block) - line_offset_m(k, block);
                let want = block + street_width_m(k) / 2.0 + street_width_m(k + 1) / 2.0;
                assert!((step - want).abs() < 1e-9, "k={k}: {step} != {want}");
            }
        }
    }

    #[test]
    fn columns_grow_only_when_needed() {
        assert_eq!(columns_for(1, 10), Some(BASE_COLUMNS));
        assert_eq!(columns_for(120, 10), Some(BASE_COLUMNS));
        assert_eq!(columns_for(121, 10), Some(7));
        assert_eq!(columns_for(600, 10), Some(MAX_COLUMNS));
        assert_eq!(columns_for(601, 10), None);
        assert_eq!(columns_for(1, 0), None);
    }
}
