//! Streets: the grid lines that bound built blocks, merged into runs (one run is
//! one named street), and their sections between main-street crossings, which
//! carry the utility networks.

use std::collections::BTreeMap;

use geo_types::{Coord, Geometry, LineString};
use serde_json::json;

use super::grid::{is_main, street_width_m, Grid};
use super::names::street_name;
use super::Draft;
use crate::model::props;

/// Which way a street runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Axis {
    /// Along x, on a horizontal grid line `j`; the plots face these streets.
    EastWest,
    /// Along y, on a vertical grid line `i`.
    NorthSouth,
}

/// One named street: a stretch of a grid line along consecutive built cells.
pub(super) struct Run {
    pub axis: Axis,
    /// The grid line it lies on: `j` for east-west streets, `i` for north-south ones.
    pub line: i64,
    /// The cells it passes along, `start..end` (cell `i` for east-west streets,
    /// cell `j` for north-south ones).
    pub start: i64,
    pub end: i64,
    pub name: String,
}

impl Run {
    pub fn main(&self) -> bool {
        is_main(self.line)
    }

    /// The street's line from grid crossing `from` to `to` (both within
    /// `start..=end`), with a vertex at every crossing street, shifted `offset_m`
    /// metres to the north (east-west streets) or east (north-south ones).
    /// EPSG:32639 metres.
    pub fn line_string(&self, grid: &Grid, from: i64, to: i64, offset_m: f64) -> LineString<f64> {
        (from..=to)
            .map(|k| match self.axis {
                Axis::EastWest => Coord {
                    x: grid.x(k),
                    y: grid.y(self.line) + offset_m,
                },
                Axis::NorthSouth => Coord {
                    x: grid.x(self.line) + offset_m,
                    y: grid.y(k),
                },
            })
            .collect()
    }

    /// Distance from `p` to the street's centre line, metres.
    fn distance_m(&self, grid: &Grid, p: Coord<f64>) -> f64 {
        let (along, across, lo, hi) = match self.axis {
            Axis::EastWest => (
                p.x,
                p.y - grid.y(self.line),
                grid.x(self.start),
                grid.x(self.end),
            ),
            Axis::NorthSouth => (
                p.y,
                p.x - grid.x(self.line),
                grid.y(self.start),
                grid.y(self.end),
            ),
        };
        let past = (lo - along).max(along - hi).max(0.0);
        past.hypot(across)
    }
}

/// A stretch of a street between two main-street crossings (or its ends): the
/// unit that a utility pipe or cable section follows.
pub(super) struct Section {
    /// Index into [`Streets::runs`].
    pub run: usize,
    /// Grid crossings it spans, `from < to`.
    pub from: i64,
    pub to: i64,
}

/// The streets of the built city.
pub(super) struct Streets {
    /// Named most central first.
    pub runs: Vec<Run>,
    /// East-west runs per grid line `j`, sorted by `start`: where a plot finds its street.
    east_west: BTreeMap<i64, Vec<usize>>,
}

impl Streets {
    /// The streets around the built cells (`built[grid.index(i, j)]`).
    pub fn new(grid: &Grid, built: &[bool]) -> Self {
        let is_built = |i: i64, j: i64| grid.index(i, j).is_some_and(|k| built[k]);
        let mut runs = Vec::new();
        // A street segment exists where a built cell lies on either side of it.
        let mut scan =
            |axis: Axis, line: i64, cells: std::ops::Range<i64>, present: &dyn Fn(i64) -> bool| {
                let mut start = None;
                for k in cells.start..=cells.end {
                    match (k < cells.end && present(k), start) {
                        (true, None) => start = Some(k),
                        (false, Some(s)) => {
                            runs.push(Run {
                                axis,
                                line,
                                start: s,
                                end: k,
                                name: String::new(),
                            });
                            start = None;
                        }
                        _ => {}
                    }
                }
            };
        for j in grid.j0..=grid.j1 {
            scan(Axis::EastWest, j, grid.i0..grid.i1, &|i| {
                is_built(i, j - 1) || is_built(i, j)
            });
        }
        for i in grid.i0..=grid.i1 {
            scan(Axis::NorthSouth, i, grid.j0..grid.j1, &|j| {
                is_built(i - 1, j) || is_built(i, j)
            });
        }
        // The most central streets take the best-known names.
        let mut keyed: Vec<(f64, Run)> = runs
            .into_iter()
            .map(|r| (r.distance_m(grid, grid.centre), r))
            .collect();
        keyed.sort_by(|(da, a), (db, b)| {
            da.total_cmp(db)
                .then(a.axis.cmp(&b.axis))
                .then(a.line.cmp(&b.line))
                .then(a.start.cmp(&b.start))
        });
        let runs: Vec<Run> = keyed
            .into_iter()
            .enumerate()
            .map(|(rank, (_, mut r))| {
                r.name = street_name(rank);
                r
            })
            .collect();
        let mut east_west: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (n, r) in runs.iter().enumerate() {
            if r.axis == Axis::EastWest {
                east_west.entry(r.line).or_default().push(n);
            }
        }
        for list in east_west.values_mut() {
            list.sort_by_key(|&n| runs[n].start);
        }
        Self { runs, east_west }
    }

    /// The east-west street on line `j` passing along cell `i`.
    pub fn east_west_at(&self, j: i64, i: i64) -> Option<&Run> {
        let list = self.east_west.get(&j)?;
        let after = list.partition_point(|&n| self.runs[n].start <= i);
        let run = &self.runs[*list.get(after.checked_sub(1)?)?];
        (i < run.end).then_some(run)
    }

    /// The streets layer: one feature per named street.
    pub fn drafts(&self, grid: &Grid) -> Vec<Draft> {
        self.runs
            .iter()
            .map(|r| {
                Draft::new(
                    Geometry::LineString(r.line_string(grid, r.start, r.end, 0.0)),
                    props([
                        ("name", json!(r.name)),
                        ("category", json!(if r.main() { "main" } else { "local" })),
                        ("width_m", json!(street_width_m(r.line))),
                    ]),
                )
            })
            .collect()
    }

    /// Every street cut at the main streets crossing it, in street order.
    pub fn sections(&self) -> Vec<Section> {
        let mut out = Vec::new();
        for (n, r) in self.runs.iter().enumerate() {
            let mut from = r.start;
            for k in r.start + 1..=r.end {
                if k == r.end || is_main(k) {
                    out.push(Section {
                        run: n,
                        from,
                        to: k,
                    });
                    from = k;
                }
            }
        }
        out
    }
}
