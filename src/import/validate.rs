//! Per-feature geometry checks for layer imports (issue 5): is this geometry
//! something the store may hold, and if not, why — and, when asked, what a
//! repair made of it.
//!
//! [`check`] looks at one geometry and answers with a [`Checked`]: valid as it
//! was, repaired (with the original [`Problem`] and what was done), or refused
//! (with the [`Problem`]). It decides nothing about the import: whether a
//! refused feature fails the whole import or is skipped and reported, and
//! whether repair is tried at all, is the caller's policy
//! (`--invalid reject|skip|repair`). This module only says what a geometry
//! is and what repair made of it, in words a GIS specialist can act on
//! ("ring 0 of polygon 2 intersects itself near (49.101200, 55.793400)").
//!
//! Geometries come in **EPSG:4326, lon/lat degrees** (the caller reprojects
//! first), and the city's bounds are in the same CRS. Validity is the OGC
//! simple-features one, as geo's [`Validation`] checks it, plus two checks geo
//! leaves out: every ring, holes too, needs 4 points and some area.
//!
//! The checks, in order, each refusing at the first problem:
//!
//! 1. no geometry at all → [`Problem::Null`];
//! 2. a coordinate that is NaN or infinite → [`Problem::Invalid`];
//! 3. a coordinate outside the city's bounds → [`Problem::OutOfBounds`];
//! 4. nothing to store (EMPTY, or only empty parts) → [`Problem::Empty`];
//! 5. not a valid simple feature → [`Problem::Invalid`];
//! 6. not of the layer's type → [`Problem::WrongType`].
//!
//! Repair handles 5 and 6 only. A non-finite coordinate has no position to
//! repair towards: any number put in its place would be invented. A
//! coordinate outside the city almost always means the whole file was read in
//! the wrong CRS (metres taken as degrees, lat/lon swapped); "repairing" the
//! vertices that happen to fall outside would hide that and store the rest in
//! the wrong place, so the only fix is to import again with the right `--srs`.
//!
//! Repair is deterministic (same input, same output) and never moves a valid
//! geometry: the common path (valid, right type) hands the geometry back
//! untouched, without copying it, and allocates only what geo's validity
//! check does. A Forest City parcel takes about 2 µs (release build); long
//! rings are checked for self-intersection by a sweep, not pairwise.

use std::fmt;

use geo::algorithm::validation::{
    GeometryIndex, InvalidMultiPolygon, InvalidPolygon, RingRole, Validation,
};
use geo::coordinate_position::CoordPos;
use geo::dimensions::Dimensions;
use geo::kernels::RobustKernel;
use geo::line_intersection::{line_intersection, LineIntersection};
use geo::orient::{Direction, Orient};
use geo::repair_polygon::RepairPolygonError;
use geo::{
    unary_union, BoundingRect, CoordsIter, HasDimensions, Intersects, Kernel, MakeValid, MapCoords,
    Orientation, PreparedGeometry, Relate, RemoveRepeatedPoints,
};
use geo_types::{
    Coord, Geometry, GeometryCollection, Line, LineString, MultiLineString, MultiPoint,
    MultiPolygon, Polygon, Rect,
};

use crate::model::GeometryType;
use crate::store::geometry_name;

/// Why a feature's geometry cannot be imported as it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// No geometry (JSON null, a missing geometry, a DBF row with a null shape).
    Null,
    /// A geometry with no coordinates (EMPTY, or nothing left after dropping
    /// degenerate parts).
    Empty,
    /// Not a valid OGC simple feature; the text says what and where, e.g.
    /// "ring 0 of polygon 2 intersects itself near (49.101200, 55.793400)",
    /// "ring 1 has 3 points; a ring needs at least 4", "line has fewer than 2
    /// distinct points", "coordinate 7 is not a finite number (NaN, 55.8)".
    /// Ring 0 is the outer ring, rings 1… the holes in file order; polygons
    /// and lines of a multi geometry count from 0, as do coordinates.
    Invalid(String),
    /// The geometry type does not fit the layer's declared type, e.g. found
    /// "LINESTRING", expected "MULTIPOLYGON".
    WrongType {
        found: &'static str,
        expected: &'static str,
    },
    /// Some coordinate lies outside the city's bounds (lon/lat EPSG:4326
    /// degrees); `at` is the first such coordinate.
    OutOfBounds { at: Coord<f64> },
}

impl Problem {
    /// A stable name for JSON reports.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Null => "null",
            Problem::Empty => "empty",
            Problem::Invalid(_) => "invalid",
            Problem::WrongType { .. } => "wrong_type",
            Problem::OutOfBounds { .. } => "out_of_bounds",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Null => f.write_str("the feature has no geometry"),
            Problem::Empty => f.write_str("the geometry is empty"),
            Problem::Invalid(what) => write!(f, "invalid geometry: {what}"),
            Problem::WrongType { found, expected } => {
                write!(f, "a {found} does not fit a {expected} layer")
            }
            Problem::OutOfBounds { at } => write!(
                f,
                "coordinate ({:.6}, {:.6}) lies outside the city's bounds; \
                 the file's CRS may be wrong (give the right one with --srs)",
                at.x, at.y
            ),
        }
    }
}

/// What the check made of one geometry.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    /// Valid as it was. Single parts in multi layers stay single: the store
    /// accepts them ([`GeometryType::accepts`]).
    Valid(Geometry<f64>),
    /// Was invalid (`problem`), and repair made it valid: the repaired
    /// geometry, and what was done, e.g. "repeated points removed,
    /// self-intersection resolved (now 2 polygons)".
    Repaired {
        geometry: Geometry<f64>,
        problem: Problem,
        done: String,
    },
    /// Cannot be imported (and, with repair, could not be made valid).
    Refused(Problem),
}

/// Checks one geometry, already in EPSG:4326 lon/lat degrees, for a layer of
/// type `expected` in a city whose bounds are `bounds` (lon/lat degrees,
/// inclusive). With `repair`, tries to make an invalid geometry valid, or one
/// of the wrong type fit (a one-part multi geometry in a single-type layer, a
/// collection in a multi-type layer).
///
/// # Examples
///
/// ```
/// use geo_types::{polygon, Geometry, Rect};
/// use imgis::import::validate::{check, Checked, Problem};
/// use imgis::model::GeometryType;
///
/// let city = Rect::new((48.8, 55.6), (49.4, 56.0));
/// // A bow tie: the outer ring crosses itself at (49.05, 55.75).
/// let bow_tie = Geometry::Polygon(polygon![
///     (x: 49.0, y: 55.7), (x: 49.0, y: 55.8), (x: 49.1, y: 55.7), (x: 49.1, y: 55.8),
/// ]);
/// let Checked::Refused(Problem::Invalid(why)) =
///     check(Some(bow_tie.clone()), GeometryType::MultiPolygon, &city, false)
/// else {
///     panic!("a bow tie is invalid")
/// };
/// assert!(why.starts_with("ring 0 intersects itself near (49.05"), "{why}");
///
/// let Checked::Repaired { geometry, done, .. } =
///     check(Some(bow_tie), GeometryType::MultiPolygon, &city, true)
/// else {
///     panic!("a bow tie can be repaired")
/// };
/// assert!(matches!(geometry, Geometry::MultiPolygon(ref m) if m.0.len() == 2));
/// assert_eq!(done, "self-intersection resolved (now 2 polygons)");
/// ```
#[must_use]
pub fn check(
    geometry: Option<Geometry<f64>>,
    expected: GeometryType,
    bounds: &Rect<f64>,
    repair: bool,
) -> Checked {
    let Some(geometry) = geometry else {
        return Checked::Refused(Problem::Null);
    };
    if let Some(problem) = coordinate_problem(&geometry, bounds) {
        return Checked::Refused(problem);
    }
    if geometry.is_empty() {
        return Checked::Refused(Problem::Empty);
    }
    let geometry = canonical(geometry);
    let defect = defect(&geometry);
    if defect.is_none() && expected.accepts(&geometry) {
        return Checked::Valid(geometry);
    }
    let problem = match defect {
        Some(defect) => Problem::Invalid(defect.text),
        None => wrong_type(&geometry, expected),
    };
    if !repair {
        return Checked::Refused(problem);
    }
    repaired(geometry, problem, expected, bounds)
}

// ====== Coordinates ======

/// The first non-finite coordinate, else the first one outside `bounds`.
/// One pass, no allocation: this runs on every feature.
fn coordinate_problem(geometry: &Geometry<f64>, bounds: &Rect<f64>) -> Option<Problem> {
    let (min, max) = (bounds.min(), bounds.max());
    let mut outside = None;
    for (i, c) in geometry.coords_iter().enumerate() {
        if !(c.x.is_finite() && c.y.is_finite()) {
            return Some(Problem::Invalid(format!(
                "coordinate {i} is not a finite number ({}, {})",
                c.x, c.y
            )));
        }
        // A non-finite coordinate later on is still the problem to report
        // (the order of checks), so keep looking after the first outsider.
        if outside.is_none() && !(min.x <= c.x && c.x <= max.x && min.y <= c.y && c.y <= max.y) {
            outside = Some(c);
        }
    }
    outside.map(|at| Problem::OutOfBounds { at })
}

/// geo-types' `Line`, `Rect` and `Triangle` as the LINESTRING and POLYGON
/// they are in OGC terms (and in the store). The readers never make them; this
/// only keeps a hand-made one from being refused as "LINESTRING does not fit a
/// LINESTRING layer".
fn canonical(geometry: Geometry<f64>) -> Geometry<f64> {
    match geometry {
        Geometry::Line(l) => Geometry::LineString(l.into()),
        Geometry::Rect(r) => Geometry::Polygon(r.to_polygon()),
        Geometry::Triangle(t) => Geometry::Polygon(t.to_polygon()),
        Geometry::GeometryCollection(gc) if gc.iter().any(needs_canonical) => {
            Geometry::GeometryCollection(GeometryCollection(
                gc.0.into_iter().map(canonical).collect(),
            ))
        }
        other => other,
    }
}

fn needs_canonical(geometry: &Geometry<f64>) -> bool {
    match geometry {
        Geometry::Line(_) | Geometry::Rect(_) | Geometry::Triangle(_) => true,
        Geometry::GeometryCollection(gc) => gc.iter().any(needs_canonical),
        _ => false,
    }
}

fn wrong_type(geometry: &Geometry<f64>, expected: GeometryType) -> Problem {
    Problem::WrongType {
        found: geometry_name(geometry),
        expected: expected.ogc_name(),
    }
}

// ====== Validity ======

/// What is wrong with a geometry, in words, and which repair it calls for.
struct Defect {
    kind: DefectKind,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DefectKind {
    /// A ring or line with too few distinct points, or a ring with no area:
    /// repair drops it.
    Degenerate,
    /// A ring crosses or touches itself.
    SelfIntersection,
    /// A hole not inside its outer ring.
    HoleOutside,
    /// Two rings of one polygon overlap or share an edge.
    RingsMeet,
    /// Two polygons of a multipolygon overlap or share an edge: repair merges
    /// them.
    PartsMeet,
    /// Anything else geo reports (e.g. a non-finite coordinate, which
    /// [`coordinate_problem`] has already refused).
    Other,
}

impl Defect {
    fn new(kind: DefectKind, text: String) -> Self {
        Self { kind, text }
    }
}

/// The first reason `geometry` is not a valid simple feature, `None` if it is.
/// The geometry has passed [`coordinate_problem`], so every coordinate is
/// finite.
fn defect(geometry: &Geometry<f64>) -> Option<Defect> {
    match geometry {
        // Finite points are valid, and a multipoint may repeat a point.
        Geometry::Point(_) | Geometry::MultiPoint(_) => None,
        Geometry::LineString(line) => line_defect(line, None),
        Geometry::MultiLineString(lines) => lines
            .iter()
            .enumerate()
            .find_map(|(i, line)| line_defect(line, Some(i))),
        Geometry::Polygon(polygon) => polygon_defect(polygon),
        Geometry::MultiPolygon(polygons) => multi_polygon_defect(polygons),
        Geometry::GeometryCollection(members) => {
            members.iter().enumerate().find_map(|(i, member)| {
                defect(member).map(|d| {
                    Defect::new(d.kind, format!("member {i} of the collection: {}", d.text))
                })
            })
        }
        // Not left after `canonical`, but geo knows how to check them.
        other => other
            .check_validation()
            .err()
            .map(|e| Defect::new(DefectKind::Other, e.to_string())),
    }
}

/// A line needs 2 distinct points. This is exactly geo's `LineString`
/// validity once coordinates are known to be finite (an empty part of a
/// MULTILINESTRING is allowed, as in geo and GEOS), but without the copy of
/// the line that geo makes to count distinct points: lines are the common
/// case of utility layers.
fn line_defect(line: &LineString<f64>, part: Option<usize>) -> Option<Defect> {
    let first = line.0.first()?;
    if line.0.iter().any(|c| c != first) {
        return None;
    }
    let name = match part {
        Some(i) => format!("line {i}"),
        None => "line".to_owned(),
    };
    Some(Defect::new(
        DefectKind::Degenerate,
        format!("{name} has fewer than 2 distinct points"),
    ))
}

/// geo's polygon validity, with two checks of our own first:
///
/// - every ring needs 4 points (after dropping consecutive repeats). geo
///   checks that too, but skips an *empty* hole, and geo-types closes rings
///   on construction, so an unclosed 3-point ring from a file arrives as a
///   valid triangle and an unclosed 2-point one as a 3-point ring;
/// - a ring whose points all lie on one line has no area. geo's
///   self-intersection test skips pairs of segments that share an end, and in
///   a ring of 3 distinct collinear points every pair does, so it would pass
///   `(0 0, 1 0, 2 0, 0 0)`; GEOS refuses it.
///
/// Both are O(1) on an ordinary ring (they stop at the 4th distinct point and
/// the first turn) and allocate nothing.
fn polygon_defect(polygon: &Polygon<f64>) -> Option<Defect> {
    if let Some(d) = ring_defects(polygon, None) {
        return Some(d);
    }
    let error = polygon_validity(polygon, SWEEP_FROM).err()?;
    Some(polygon_error(polygon, None, error))
}

fn multi_polygon_defect(polygons: &MultiPolygon<f64>) -> Option<Defect> {
    if let Some(d) = polygons
        .iter()
        .enumerate()
        .find_map(|(i, p)| ring_defects(p, Some(i)))
    {
        return Some(d);
    }
    let error = multi_polygon_validity(polygons, SWEEP_FROM).err()?;
    Some(match error {
        InvalidMultiPolygon::InvalidPolygon(i, error) => {
            polygon_error(&polygons.0[i.0], Some(i.0), error)
        }
        InvalidMultiPolygon::ElementsOverlaps(i, j) => parts_meet(polygons, i.0, j.0, "overlap"),
        InvalidMultiPolygon::ElementsTouchOnALine(i, j) => {
            parts_meet(polygons, i.0, j.0, "share an edge")
        }
    })
}

/// Rings of more points than this are checked with a sweep (see
/// [`polygon_validity`]); shorter ones by geo's own check, the reference, as
/// it is. Either costs a few microseconds on a ring this short (a Forest City
/// parcel: about 2 µs per `check`).
const SWEEP_FROM: usize = 64;

/// geo's polygon validation (the first error), unchanged for rings of up to
/// `sweep_from` points. For longer rings, the same steps in the same order,
/// mirrored from geo 0.33.1 (`algorithm/validation/polygon.rs`), but with its
/// self-intersection test, which compares every pair of segments, replaced by
/// [`self_intersection`], a sweep. Pairwise, the 5 191-point ring of a Dutch
/// zoning plan took about 0.5 s, and forest or water polygons can have tens of
/// thousands of points; swept, the whole zoning file takes 4 ms. The test
/// `sweep_agrees_with_geo` holds the two together.
fn polygon_validity(polygon: &Polygon<f64>, sweep_from: usize) -> Result<(), InvalidPolygon> {
    if rings(polygon).all(|r| r.0.len() <= sweep_from) {
        return polygon.check_validation();
    }
    if polygon.is_empty() {
        return Ok(());
    }
    for (i, ring) in rings(polygon).enumerate() {
        if ring.0.is_empty() {
            continue;
        }
        let role = ring_role(i);
        if !has_distinct_points(ring, 4) {
            return Err(InvalidPolygon::TooFewPointsInRing(role));
        }
        if self_intersection(ring).is_some() {
            return Err(InvalidPolygon::SelfIntersection(role));
        }
        // geo's non-finite check is not repeated: `coordinate_problem` has
        // refused such a geometry before validity is looked at.
    }
    let holes = polygon.interiors();
    if holes.iter().all(|r| r.0.is_empty()) {
        return Ok(());
    }
    let shell = Polygon::new(polygon.exterior().clone(), vec![]);
    let shell = PreparedGeometry::from(&shell);
    for (i, hole) in holes.iter().enumerate() {
        if hole.0.is_empty() {
            continue;
        }
        let role = RingRole::Interior(i);
        let hole = Polygon::new(hole.clone(), vec![]);
        let hole = PreparedGeometry::from(&hole);
        let matrix = shell.relate(&hole);
        if !matrix.is_contains() {
            return Err(InvalidPolygon::InteriorRingNotContainedInExteriorRing(role));
        }
        if matrix.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
            return Err(InvalidPolygon::IntersectingRingsOnALine(
                RingRole::Exterior,
                role,
            ));
        }
        for (j, other) in holes.iter().enumerate().skip(i + 1) {
            if other.0.is_empty() {
                continue;
            }
            let other_role = RingRole::Interior(j);
            let matrix = hole.relate(&Polygon::new(other.clone(), vec![]));
            if matrix.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional {
                return Err(InvalidPolygon::IntersectingRingsOnAnArea(role, other_role));
            }
            if matrix.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional
            {
                return Err(InvalidPolygon::IntersectingRingsOnALine(role, other_role));
            }
        }
    }
    Ok(())
}

/// geo's multipolygon validation (the first error), with each polygon checked
/// by [`polygon_validity`]; mirrored from geo 0.33.1
/// (`algorithm/validation/multi_polygon.rs`) when any ring is long.
fn multi_polygon_validity(
    polygons: &MultiPolygon<f64>,
    sweep_from: usize,
) -> Result<(), InvalidMultiPolygon> {
    if polygons
        .iter()
        .flat_map(rings)
        .all(|r| r.0.len() <= sweep_from)
    {
        return polygons.check_validation();
    }
    for (i, polygon) in polygons.iter().enumerate() {
        polygon_validity(polygon, sweep_from)
            .map_err(|e| InvalidMultiPolygon::InvalidPolygon(GeometryIndex(i), e))?;
        for (j, other) in polygons.iter().enumerate().skip(i + 1) {
            let matrix = polygon.relate(other);
            if matrix.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional {
                return Err(InvalidMultiPolygon::ElementsOverlaps(
                    GeometryIndex(i),
                    GeometryIndex(j),
                ));
            }
            if matrix.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional
            {
                return Err(InvalidMultiPolygon::ElementsTouchOnALine(
                    GeometryIndex(i),
                    GeometryIndex(j),
                ));
            }
        }
    }
    Ok(())
}

/// "ring 1" of a polygon, or "ring 1 of polygon 3" of a multipolygon.
fn ring_name(ring: usize, part: Option<usize>) -> String {
    match part {
        Some(p) => format!("ring {ring} of polygon {p}"),
        None => format!("ring {ring}"),
    }
}

fn rings(polygon: &Polygon<f64>) -> impl Iterator<Item = &LineString<f64>> {
    std::iter::once(polygon.exterior()).chain(polygon.interiors())
}

fn ring_role(index: usize) -> RingRole {
    match index {
        0 => RingRole::Exterior,
        i => RingRole::Interior(i - 1),
    }
}

fn ring_index(role: RingRole) -> usize {
    match role {
        RingRole::Exterior => 0,
        RingRole::Interior(i) => i + 1,
    }
}

fn ring_of(polygon: &Polygon<f64>, role: RingRole) -> &LineString<f64> {
    match role {
        RingRole::Exterior => polygon.exterior(),
        RingRole::Interior(i) => &polygon.interiors()[i],
    }
}

/// The ring-size and no-area checks of [`polygon_defect`], for one polygon.
fn ring_defects(polygon: &Polygon<f64>, part: Option<usize>) -> Option<Defect> {
    // An EMPTY part of a multipolygon is allowed (geo and GEOS agree).
    if polygon.exterior().0.is_empty() && polygon.interiors().is_empty() {
        return None;
    }
    for (r, ring) in rings(polygon).enumerate() {
        if !has_distinct_points(ring, 4) {
            let distinct = distinct_points(ring);
            let text = if distinct == ring.0.len() {
                format!(
                    "{} has {distinct} points; a ring needs at least 4",
                    ring_name(r, part)
                )
            } else {
                format!(
                    "{} has {distinct} points once repeated points are removed; \
                     a ring needs at least 4",
                    ring_name(r, part)
                )
            };
            return Some(Defect::new(DefectKind::Degenerate, text));
        }
        if is_flat(ring) {
            return Some(Defect::new(
                DefectKind::Degenerate,
                format!(
                    "{} has no area: all its points lie on one line",
                    ring_name(r, part)
                ),
            ));
        }
    }
    None
}

/// Whether the ring has at least `n` points once consecutive repeats are
/// dropped; stops as soon as it knows.
fn has_distinct_points(ring: &LineString<f64>, n: usize) -> bool {
    let Some(first) = ring.0.first() else {
        return n == 0;
    };
    let mut count = 1;
    let mut last = first;
    for c in &ring.0[1..] {
        if c != last {
            count += 1;
            if count >= n {
                return true;
            }
            last = c;
        }
    }
    count >= n
}

/// The number of points once consecutive repeats are dropped.
fn distinct_points(ring: &LineString<f64>) -> usize {
    match ring.0.first() {
        None => 0,
        Some(_) => 1 + ring.0.windows(2).filter(|w| w[0] != w[1]).count(),
    }
}

/// Whether every point of the ring lies on one line (exactly: geo's robust
/// orientation predicate, not an area compared with a tolerance).
fn is_flat(ring: &LineString<f64>) -> bool {
    let Some(&a) = ring.0.first() else {
        return true;
    };
    let Some(&b) = ring.0.iter().find(|&&c| c != a) else {
        return true;
    };
    ring.0
        .iter()
        .all(|&c| RobustKernel::orient2d(a, b, c) == Orientation::Collinear)
}

/// geo's polygon error in words, with a place where one can be found.
fn polygon_error(polygon: &Polygon<f64>, part: Option<usize>, error: InvalidPolygon) -> Defect {
    use DefectKind as K;
    match error {
        InvalidPolygon::TooFewPointsInRing(role) => Defect::new(
            K::Degenerate,
            format!(
                "{} has fewer than 4 distinct points; a ring needs at least 4",
                ring_name(ring_index(role), part)
            ),
        ),
        InvalidPolygon::SelfIntersection(role) => {
            let name = ring_name(ring_index(role), part);
            let text = match self_intersection(ring_of(polygon, role)) {
                Some(at) => format!("{name} intersects itself{}", near(at)),
                None => format!("{name} intersects itself"),
            };
            Defect::new(K::SelfIntersection, text)
        }
        InvalidPolygon::NonFiniteCoord(role, i) => Defect::new(
            K::Other,
            format!(
                "coordinate {} of {} is not a finite number",
                i.0,
                ring_name(ring_index(role), part)
            ),
        ),
        InvalidPolygon::InteriorRingNotContainedInExteriorRing(role) => {
            let hole = ring_of(polygon, role);
            let at = vertex_outside(polygon.exterior(), hole)
                .or_else(|| rings_meet(polygon.exterior(), hole));
            Defect::new(
                K::HoleOutside,
                format!(
                    "{} (a hole) is not inside ring 0 (the outer ring){}",
                    ring_name(ring_index(role), part),
                    at.map(near).unwrap_or_default()
                ),
            )
        }
        InvalidPolygon::IntersectingRingsOnALine(a, b) => {
            rings_meet_defect(polygon, part, a, b, "share an edge")
        }
        InvalidPolygon::IntersectingRingsOnAnArea(a, b) => {
            rings_meet_defect(polygon, part, a, b, "overlap")
        }
    }
}

fn rings_meet_defect(
    polygon: &Polygon<f64>,
    part: Option<usize>,
    a: RingRole,
    b: RingRole,
    how: &str,
) -> Defect {
    let (ring_a, ring_b) = (ring_of(polygon, a), ring_of(polygon, b));
    let at = rings_meet(ring_a, ring_b).or_else(|| ring_b.0.first().copied());
    let of = part.map(|p| format!(" of polygon {p}")).unwrap_or_default();
    Defect::new(
        DefectKind::RingsMeet,
        format!(
            "rings {} and {}{of} {how}{}",
            ring_index(a),
            ring_index(b),
            at.map(near).unwrap_or_default()
        ),
    )
}

fn parts_meet(polygons: &MultiPolygon<f64>, i: usize, j: usize, how: &str) -> Defect {
    let (a, b) = (polygons.0[i].exterior(), polygons.0[j].exterior());
    let at = rings_meet(a, b).or_else(|| b.0.first().copied());
    Defect::new(
        DefectKind::PartsMeet,
        format!(
            "polygons {i} and {j} {how}{}",
            at.map(near).unwrap_or_default()
        ),
    )
}

/// " near (lon, lat)", to 6 decimals (about 0.1 m): enough to find the spot
/// on a map.
fn near(at: Coord<f64>) -> String {
    format!(" near ({:.6}, {:.6})", at.x, at.y)
}

/// Where a ring crosses or touches itself, by the rule of geo's validation:
/// two of its segments meet, other than where one ends and the other begins
/// (a repeated point's zero-length segment thus touches its neighbours
/// without counting).
///
/// A sweep: the segments sorted along the longer side of the ring's bounding
/// box, each compared only with those whose extents overlap its own. On the
/// rings of real polygons that is O(n log n); geo compares all n² pairs.
/// Deterministic: the stable sort keeps ring order among equal keys.
fn self_intersection(ring: &LineString<f64>) -> Option<Coord<f64>> {
    /// A segment and its extent along the sweep (`lo..=hi`) and across it.
    struct Extent {
        lo: f64,
        hi: f64,
        across_lo: f64,
        across_hi: f64,
        line: Line<f64>,
    }
    let rect = ring.bounding_rect()?;
    let along_x = rect.width() >= rect.height();
    // (along, across) for a coordinate.
    let axes = |c: Coord<f64>| if along_x { (c.x, c.y) } else { (c.y, c.x) };
    let mut segments: Vec<Extent> = ring
        .lines()
        .map(|line| {
            let ((a0, c0), (a1, c1)) = (axes(line.start), axes(line.end));
            Extent {
                lo: a0.min(a1),
                hi: a0.max(a1),
                across_lo: c0.min(c1),
                across_hi: c0.max(c1),
                line,
            }
        })
        .collect();
    segments.sort_by(|a, b| a.lo.total_cmp(&b.lo));
    for (i, a) in segments.iter().enumerate() {
        for b in &segments[i + 1..] {
            if b.lo > a.hi {
                break;
            }
            if b.across_lo > a.across_hi || a.across_lo > b.across_hi {
                continue;
            }
            let (p, q) = (a.line, b.line);
            if p.start != q.end && p.end != q.start {
                if let Some(x) = line_intersection(p, q) {
                    return Some(intersection_point(x));
                }
            }
        }
    }
    None
}

/// The first point where a segment of `a` meets a segment of `b`.
fn rings_meet(a: &LineString<f64>, b: &LineString<f64>) -> Option<Coord<f64>> {
    a.lines().find_map(|sa| {
        b.lines()
            .find_map(|sb| line_intersection(sa, sb).map(intersection_point))
    })
}

fn intersection_point(x: LineIntersection<f64>) -> Coord<f64> {
    match x {
        LineIntersection::SinglePoint { intersection, .. } => intersection,
        LineIntersection::Collinear { intersection } => intersection.start,
    }
}

/// The first vertex of `hole` strictly outside the polygon of `exterior`.
fn vertex_outside(exterior: &LineString<f64>, hole: &LineString<f64>) -> Option<Coord<f64>> {
    let shell = Polygon::new(exterior.clone(), vec![]);
    hole.0.iter().copied().find(|&c| !shell.intersects(&c))
}

// ====== Repair ======

/// The three geometry families a typed layer holds one of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Points,
    Lines,
    Polygons,
}

impl Family {
    /// `None` for a GEOMETRY layer, which holds anything.
    fn of_layer(layer: GeometryType) -> Option<Family> {
        use GeometryType as T;
        match layer {
            T::Point | T::MultiPoint => Some(Family::Points),
            T::LineString | T::MultiLineString => Some(Family::Lines),
            T::Polygon | T::MultiPolygon => Some(Family::Polygons),
            T::Geometry => None,
        }
    }

    /// Whether the geometry (a collection: each of its members) is of this
    /// family. Runs after [`canonical`], so no `Line`, `Rect` or `Triangle`.
    fn holds(self, geometry: &Geometry<f64>) -> bool {
        match geometry {
            Geometry::Point(_) | Geometry::MultiPoint(_) => self == Family::Points,
            Geometry::LineString(_) | Geometry::MultiLineString(_) => self == Family::Lines,
            Geometry::Polygon(_) | Geometry::MultiPolygon(_) => self == Family::Polygons,
            Geometry::GeometryCollection(gc) => gc.iter().all(|g| self.holds(g)),
            Geometry::Line(_) | Geometry::Rect(_) | Geometry::Triangle(_) => false,
        }
    }

    /// A collection of this family as the family's multi geometry.
    fn flatten(self, collection: GeometryCollection<f64>) -> Geometry<f64> {
        fn walk(g: Geometry<f64>, out: &mut Vec<Geometry<f64>>) {
            match g {
                Geometry::GeometryCollection(gc) => gc.0.into_iter().for_each(|g| walk(g, out)),
                Geometry::MultiPoint(m) => out.extend(m.0.into_iter().map(Geometry::Point)),
                Geometry::MultiLineString(m) => {
                    out.extend(m.0.into_iter().map(Geometry::LineString));
                }
                Geometry::MultiPolygon(m) => out.extend(m.0.into_iter().map(Geometry::Polygon)),
                single => out.push(single),
            }
        }
        let mut singles = Vec::new();
        collection.0.into_iter().for_each(|g| walk(g, &mut singles));
        let singles = singles.into_iter();
        match self {
            Family::Points => Geometry::MultiPoint(MultiPoint(
                singles
                    .filter_map(|g| match g {
                        Geometry::Point(p) => Some(p),
                        _ => None,
                    })
                    .collect(),
            )),
            Family::Lines => Geometry::MultiLineString(MultiLineString(
                singles
                    .filter_map(|g| match g {
                        Geometry::LineString(l) => Some(l),
                        _ => None,
                    })
                    .collect(),
            )),
            Family::Polygons => Geometry::MultiPolygon(MultiPolygon(
                singles
                    .filter_map(|g| match g {
                        Geometry::Polygon(p) => Some(p),
                        _ => None,
                    })
                    .collect(),
            )),
        }
    }

    /// "polygon", for "single polygon of a MULTIPOLYGON taken as POLYGON".
    fn part_name(self) -> &'static str {
        match self {
            Family::Points => "point",
            Family::Lines => "line",
            Family::Polygons => "polygon",
        }
    }
}

/// Why a repair step gave up.
enum Failure {
    /// Nothing left once degenerate parts were dropped.
    Empty,
    /// Could not be made valid; refuse with the original problem.
    Unrepairable,
}

/// The repair path of [`check`]: `problem` is what check found first.
fn repaired(
    geometry: Geometry<f64>,
    problem: Problem,
    expected: GeometryType,
    bounds: &Rect<f64>,
) -> Checked {
    let found = geometry_name(&geometry);
    let family = Family::of_layer(expected);
    let mut done = Vec::new();

    // 1. The right family, or nothing repair can do: a line is no polygon,
    //    however it is mended. This is the reason to give even if the
    //    geometry was also invalid.
    let geometry = match (family, geometry) {
        (Some(f), g) if !f.holds(&g) => {
            return Checked::Refused(Problem::WrongType {
                found,
                expected: expected.ogc_name(),
            })
        }
        (Some(f), Geometry::GeometryCollection(gc)) => {
            let multi = f.flatten(gc);
            done.push(format!(
                "GEOMETRYCOLLECTION taken as {}",
                geometry_name(&multi)
            ));
            multi
        }
        (_, g) => g,
    };

    // 2. Validity. Checked again: a collection taken as a multipolygon can be
    //    invalid although each of its members was valid (they overlap).
    let geometry = if defect(&geometry).is_some() {
        match fix(geometry, &mut done) {
            Ok(g) => g,
            Err(Failure::Empty) => return Checked::Refused(Problem::Empty),
            Err(Failure::Unrepairable) => return Checked::Refused(problem),
        }
    } else {
        geometry
    };

    // 3. The layer's type: a one-part multi geometry in a single-type layer.
    let geometry = if expected.accepts(&geometry) {
        geometry
    } else {
        match single_part(geometry) {
            Ok((single, f)) => {
                done.push(format!(
                    "single {} of a {found} taken as {}",
                    f.part_name(),
                    expected.ogc_name()
                ));
                single
            }
            Err(g) => return refused_for_type(&g, problem, expected),
        }
    };

    // 4. What was made must pass every check the valid path makes. Repair
    //    computes new vertices (intersections, overlay output), which stay
    //    within the input's extent; checking costs little on this path.
    let ok = expected.accepts(&geometry)
        && !geometry.is_empty()
        && coordinate_problem(&geometry, bounds).is_none()
        && defect(&geometry).is_none();
    if !ok || done.is_empty() {
        return Checked::Refused(problem);
    }
    Checked::Repaired {
        geometry,
        problem,
        done: done.join(", "),
    }
}

/// The only part of a multi geometry, as the single geometry; else the
/// geometry back.
fn single_part(geometry: Geometry<f64>) -> Result<(Geometry<f64>, Family), Geometry<f64>> {
    match geometry {
        Geometry::MultiPoint(mut m) if m.0.len() == 1 => {
            Ok((Geometry::Point(m.0.remove(0)), Family::Points))
        }
        Geometry::MultiLineString(mut m) if m.0.len() == 1 => {
            Ok((Geometry::LineString(m.0.remove(0)), Family::Lines))
        }
        Geometry::MultiPolygon(mut m) if m.0.len() == 1 => {
            Ok((Geometry::Polygon(m.0.remove(0)), Family::Polygons))
        }
        other => Err(other),
    }
}

/// A geometry of the layer's family that is still not of its type after
/// repair: several parts for a single-type layer. If the file had it so, the
/// type is the problem; if repair split it, say so with the original problem.
fn refused_for_type(geometry: &Geometry<f64>, problem: Problem, expected: GeometryType) -> Checked {
    match problem {
        Problem::Invalid(text) => {
            let parts = match geometry {
                Geometry::MultiPoint(m) => m.0.len(),
                Geometry::MultiLineString(m) => m.0.len(),
                Geometry::MultiPolygon(m) => m.0.len(),
                _ => 1,
            };
            Checked::Refused(Problem::Invalid(format!(
                "{text}; repaired, it is {parts} parts, which a {} layer cannot hold",
                expected.ogc_name()
            )))
        }
        other => Checked::Refused(other),
    }
}

/// Makes an invalid geometry valid, noting what was done.
fn fix(geometry: Geometry<f64>, done: &mut Vec<String>) -> Result<Geometry<f64>, Failure> {
    match geometry {
        Geometry::LineString(line) => {
            let mut lines = fix_lines(vec![line], done)?;
            Ok(Geometry::LineString(lines.remove(0)))
        }
        Geometry::MultiLineString(lines) => Ok(Geometry::MultiLineString(MultiLineString(
            fix_lines(lines.0, done)?,
        ))),
        Geometry::Polygon(polygon) => {
            let mut polygons = fix_polygons(vec![polygon], done)?;
            Ok(if polygons.len() == 1 {
                Geometry::Polygon(polygons.remove(0))
            } else {
                Geometry::MultiPolygon(MultiPolygon(polygons))
            })
        }
        Geometry::MultiPolygon(polygons) => Ok(Geometry::MultiPolygon(MultiPolygon(fix_polygons(
            polygons.0, done,
        )?))),
        // In a GEOMETRY layer: each member on its own; a member left empty
        // goes, the collection stays.
        Geometry::GeometryCollection(members) => {
            let mut kept = Vec::with_capacity(members.0.len());
            let mut dropped = 0;
            for member in members {
                if defect(&member).is_none() {
                    kept.push(member);
                    continue;
                }
                match fix(member, done) {
                    Ok(g) => kept.push(g),
                    Err(Failure::Empty) => dropped += 1,
                    Err(Failure::Unrepairable) => return Err(Failure::Unrepairable),
                }
            }
            if dropped > 0 {
                done.push(format!("{} dropped", count(dropped, "empty member")));
            }
            if kept.is_empty() {
                return Err(Failure::Empty);
            }
            Ok(Geometry::GeometryCollection(GeometryCollection(kept)))
        }
        // Points have nothing to repair once their coordinates are finite.
        other => Err(if other.is_empty() {
            Failure::Empty
        } else {
            Failure::Unrepairable
        }),
    }
}

/// Lines: repeated points removed, parts with fewer than 2 points dropped.
/// At least one line is left, or `Failure::Empty`.
fn fix_lines(
    lines: Vec<LineString<f64>>,
    done: &mut Vec<String>,
) -> Result<Vec<LineString<f64>>, Failure> {
    let mut repeated = false;
    let mut dropped = 0;
    let mut kept = Vec::with_capacity(lines.len());
    for mut line in lines {
        if line.0.is_empty() {
            continue;
        }
        let before = line.0.len();
        line.remove_repeated_points_mut();
        repeated |= line.0.len() != before;
        if line.0.len() < 2 {
            dropped += 1;
        } else {
            kept.push(line);
        }
    }
    if repeated {
        done.push("repeated points removed".to_owned());
    }
    if dropped > 0 {
        done.push(format!("{} dropped", count(dropped, "degenerate line")));
    }
    if kept.is_empty() {
        return Err(Failure::Empty);
    }
    Ok(kept)
}

/// Polygons, in four steps:
///
/// 1. repeated points removed (geo's `RemoveRepeatedPoints`);
/// 2. rings with fewer than 4 points or no area dropped (a dropped outer ring
///    takes its holes with it); nothing left → `Failure::Empty`;
/// 3. each polygon still invalid rebuilt with geo's `MakeValid`, which can
///    split it into several (a bow tie into two triangles);
/// 4. polygons that overlap or share an edge merged (their union).
///
/// Step 3 goes polygon by polygon, and step 4 is a union, because `MakeValid`
/// applies the odd-even rule: given a whole multipolygon whose parts overlap,
/// it would cut the overlap out as a hole, losing land both parts agree on.
/// A part drawn twice or two parcels digitised over each other mean the
/// union, as `ST_MakeValid(…, 'method=structure')` reads them in PostGIS.
fn fix_polygons(
    polygons: Vec<Polygon<f64>>,
    done: &mut Vec<String>,
) -> Result<Vec<Polygon<f64>>, Failure> {
    let kept = drop_degenerate(polygons, done)?;

    // 3.
    let mut parts = Vec::with_capacity(kept.len());
    let mut rebuilt: Vec<(&'static str, usize, usize)> = Vec::new();
    for polygon in kept {
        let Some(defect) = polygon_defect(&polygon) else {
            parts.push(polygon);
            continue;
        };
        let made = make_valid(&polygon).map_err(|_| Failure::Unrepairable)?;
        let what = match defect.kind {
            DefectKind::SelfIntersection => "self-intersection resolved",
            DefectKind::HoleOutside => "hole outside its polygon resolved",
            DefectKind::RingsMeet => "touching rings resolved",
            _ => "polygon rebuilt",
        };
        match rebuilt.iter_mut().find(|(w, _, _)| *w == what) {
            Some((_, n, out)) => {
                *n += 1;
                *out += made.0.len();
            }
            None => rebuilt.push((what, 1, made.0.len())),
        }
        parts.extend(made.0);
    }
    for (what, n, out) in rebuilt {
        let in_how_many = if n > 1 {
            format!(" in {n} polygons")
        } else {
            String::new()
        };
        let now = if out == n {
            String::new()
        } else {
            format!(" (now {})", count(out, "polygon"))
        };
        done.push(format!("{what}{in_how_many}{now}"));
    }
    if parts.is_empty() {
        // The repair found no area at all (e.g. a hole equal to its shell):
        // better refused with the file's problem than imported as nothing.
        return Err(Failure::Unrepairable);
    }

    // 4.
    if parts.len() > 1 {
        let mut multi = MultiPolygon(parts);
        let meet = match multi_polygon_validity(&multi, SWEEP_FROM) {
            Ok(()) => None,
            Err(InvalidMultiPolygon::ElementsOverlaps(..)) => Some("overlapping polygons merged"),
            Err(InvalidMultiPolygon::ElementsTouchOnALine(..)) => {
                Some("polygons sharing an edge merged")
            }
            Err(InvalidMultiPolygon::InvalidPolygon(..)) => return Err(Failure::Unrepairable),
        };
        if let Some(what) = meet {
            // unary_union takes its fill rule from the first ring's winding;
            // one winding for all (outer rings counter-clockwise) makes every
            // polygon count as land.
            multi = multi.orient(Direction::Default);
            multi = unary_union(&multi.0);
            done.push(what.to_owned());
        }
        parts = multi.0;
    }
    Ok(parts)
}

/// Steps 1 and 2 of [`fix_polygons`]: repeated points removed, degenerate
/// rings and empty polygons dropped. At least one polygon is left, or
/// `Failure::Empty`.
fn drop_degenerate(
    polygons: Vec<Polygon<f64>>,
    done: &mut Vec<String>,
) -> Result<Vec<Polygon<f64>>, Failure> {
    let mut repeated = false;
    let (mut dropped_rings, mut orphaned_holes, mut empty_parts) = (0, 0, 0);
    let mut kept = Vec::with_capacity(polygons.len());
    for polygon in polygons {
        let (mut exterior, interiors) = polygon.into_inner();
        if exterior.0.is_empty() && interiors.iter().all(|r| r.0.is_empty()) {
            empty_parts += 1;
            continue;
        }
        repeated |= dedup(&mut exterior);
        if is_degenerate(&exterior) {
            dropped_rings += 1;
            orphaned_holes += interiors.iter().filter(|r| !r.0.is_empty()).count();
            continue;
        }
        let mut holes = Vec::with_capacity(interiors.len());
        for mut hole in interiors {
            repeated |= dedup(&mut hole);
            if is_degenerate(&hole) {
                dropped_rings += 1;
            } else {
                holes.push(hole);
            }
        }
        kept.push(Polygon::new(exterior, holes));
    }
    if repeated {
        done.push("repeated points removed".to_owned());
    }
    if dropped_rings > 0 {
        done.push(format!(
            "{} dropped",
            count(dropped_rings, "degenerate ring")
        ));
    }
    if orphaned_holes > 0 {
        done.push(format!(
            "{} of a dropped ring dropped with it",
            count(orphaned_holes, "hole")
        ));
    }
    if empty_parts > 0 {
        done.push(format!("{} dropped", count(empty_parts, "empty polygon")));
    }
    if kept.is_empty() {
        return Err(Failure::Empty);
    }
    Ok(kept)
}

/// geo's [`MakeValid`], at a scale where its snapping does no harm.
///
/// Its triangulation snaps together vertices closer than 0.0001 coordinate
/// units (a fixed radius). In degrees that is about 10 m on the ground: the
/// side of a small parcel, which it would collapse (a Forest City parcel lost
/// half its area that way). Scaled by 2¹⁷ the radius is under 0.1 mm. A power
/// of two scales exactly in binary floating point, so a vertex the repair
/// does not move comes back bit for bit as it was.
fn make_valid(polygon: &Polygon<f64>) -> Result<MultiPolygon<f64>, RepairPolygonError> {
    const SCALE: f64 = 131_072.0; // 2^17; 180° × 2^17 is far from f64's limits
    let made = polygon.map_coords(|c| c * SCALE).make_valid()?;
    Ok(made.map_coords(|c| c / SCALE))
}

/// Removes consecutive repeated points; whether any were.
fn dedup(ring: &mut LineString<f64>) -> bool {
    let before = ring.0.len();
    ring.remove_repeated_points_mut();
    ring.0.len() != before
}

/// A ring with fewer than 4 points or no area (see [`ring_defects`]).
fn is_degenerate(ring: &LineString<f64>) -> bool {
    !has_distinct_points(ring, 4) || is_flat(ring)
}

/// "1 degenerate ring", "2 degenerate rings".
fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use geo::{wkt, Area};
    use geo_types::Point;

    use super::*;
    use crate::import::{open, ReadOptions};

    /// The whole world: the real files below are in lon/lat degrees.
    fn world() -> Rect<f64> {
        Rect::new((-180., -90.), (180., 90.))
    }

    /// Kazan, roughly (lon/lat degrees).
    fn kazan() -> Rect<f64> {
        Rect::new((48.8, 55.6), (49.4, 56.0))
    }

    fn invalid_text(checked: Checked) -> String {
        match checked {
            Checked::Refused(Problem::Invalid(text)) => text,
            other => panic!("expected Refused(Invalid), got {other:?}"),
        }
    }

    /// Valid by geo's rules and by ours (a repaired geometry must be both).
    fn assert_valid(g: &Geometry<f64>) {
        assert!(g.is_valid(), "{g:?}: {:?}", g.validation_errors());
        assert!(defect(g).is_none(), "{:?}", defect(g).map(|d| d.text));
    }

    fn bow_tie() -> Geometry<f64> {
        // Crosses itself at (5, 5): two triangles of 25 each.
        Geometry::Polygon(wkt!(POLYGON((0. 0., 0. 10., 10. 0., 10. 10., 0. 0.))))
    }

    #[test]
    fn bow_tie_is_invalid_and_repairs_to_its_two_triangles() {
        let refused = check(Some(bow_tie()), GeometryType::MultiPolygon, &world(), false);
        let text = invalid_text(refused);
        assert_eq!(text, "ring 0 intersects itself near (5.000000, 5.000000)");

        let Checked::Repaired {
            geometry,
            problem,
            done,
        } = check(Some(bow_tie()), GeometryType::MultiPolygon, &world(), true)
        else {
            panic!("a bow tie can be repaired")
        };
        assert_eq!(problem, Problem::Invalid(text.clone()));
        assert_eq!(done, "self-intersection resolved (now 2 polygons)");
        assert_valid(&geometry);
        let Geometry::MultiPolygon(ref parts) = geometry else {
            panic!("two triangles are a MULTIPOLYGON: {geometry:?}")
        };
        assert_eq!(parts.0.len(), 2);
        let area = geometry.unsigned_area();
        assert!((area - 50.).abs() <= 1e-9 * 50., "area {area}");

        // A POLYGON layer cannot hold two triangles: refused, saying why.
        let refused = check(Some(bow_tie()), GeometryType::Polygon, &world(), true);
        assert_eq!(
            invalid_text(refused),
            format!("{text}; repaired, it is 2 parts, which a POLYGON layer cannot hold")
        );
    }

    #[test]
    fn rings_need_four_points_and_some_area() {
        // Closed, but only 3 points: geo-types leaves a closed ring as it is.
        let three = Polygon::new(LineString::from(vec![(0., 0.), (1., 1.), (0., 0.)]), vec![]);
        assert_eq!(three.exterior().0.len(), 3);
        let g = Geometry::Polygon(three);
        assert_eq!(
            invalid_text(check(
                Some(g.clone()),
                GeometryType::Polygon,
                &world(),
                false
            )),
            "ring 0 has 3 points; a ring needs at least 4"
        );
        // Nothing is left once the ring is dropped.
        assert_eq!(
            check(Some(g), GeometryType::Polygon, &world(), true),
            Checked::Refused(Problem::Empty)
        );

        // An unclosed triangle from a file is closed by geo-types on
        // construction: a valid ring of 4 points.
        let unclosed = Polygon::new(LineString::from(vec![(0., 0.), (1., 0.), (1., 1.)]), vec![]);
        assert_eq!(unclosed.exterior().0.len(), 4);
        assert!(matches!(
            check(
                Some(unclosed.into()),
                GeometryType::Polygon,
                &world(),
                false
            ),
            Checked::Valid(_)
        ));

        // A hole of 3 points is dropped by repair; the polygon stays.
        let holed = wkt!(POLYGON((0. 0., 10. 0., 10. 10., 0. 10., 0. 0.), (2. 2., 3. 3., 2. 2.)));
        let g = Geometry::Polygon(holed);
        assert_eq!(
            invalid_text(check(
                Some(g.clone()),
                GeometryType::Polygon,
                &world(),
                false
            )),
            "ring 1 has 3 points; a ring needs at least 4"
        );
        let Checked::Repaired { geometry, done, .. } =
            check(Some(g), GeometryType::Polygon, &world(), true)
        else {
            panic!("dropping the hole repairs it")
        };
        assert_eq!(done, "1 degenerate ring dropped");
        assert_eq!(
            geometry,
            Geometry::Polygon(wkt!(POLYGON((0. 0., 10. 0., 10. 10., 0. 10., 0. 0.))))
        );

        // Four points, but all on one line: geo alone passes it, GEOS does not.
        let flat = wkt!(POLYGON((0. 0., 1. 0., 2. 0., 0. 0.)));
        assert!(
            flat.is_valid(),
            "geo's own check has changed: revisit ring_defects"
        );
        assert_eq!(
            invalid_text(check(
                Some(flat.into()),
                GeometryType::Polygon,
                &world(),
                false
            )),
            "ring 0 has no area: all its points lie on one line"
        );
    }

    #[test]
    fn repeated_points_are_valid_and_kept() {
        // OGC, GEOS and geo agree: consecutive repeated points do not make a
        // polygon invalid. The geometry is stored as it came.
        let repeated = Geometry::Polygon(wkt!(POLYGON((
            0. 0., 1. 0., 1. 0., 1. 1., 0. 1., 0. 1., 0. 0.
        ))));
        assert!(repeated.is_valid());
        assert_eq!(
            check(
                Some(repeated.clone()),
                GeometryType::Polygon,
                &world(),
                true
            ),
            Checked::Valid(repeated)
        );

        // Unless too few points are left without them.
        let g = Geometry::Polygon(wkt!(POLYGON((0. 0., 1. 1., 1. 1., 0. 0.))));
        assert_eq!(
            invalid_text(check(Some(g), GeometryType::Polygon, &world(), false)),
            "ring 0 has 3 points once repeated points are removed; a ring needs at least 4"
        );
    }

    #[test]
    fn lines_need_two_distinct_points() {
        let one_point = Geometry::LineString(wkt!(LINESTRING(1. 1., 1. 1., 1. 1.)));
        assert_eq!(
            invalid_text(check(
                Some(one_point.clone()),
                GeometryType::LineString,
                &world(),
                false
            )),
            "line has fewer than 2 distinct points"
        );
        // Nothing is left to repair.
        assert_eq!(
            check(Some(one_point), GeometryType::LineString, &world(), true),
            Checked::Refused(Problem::Empty)
        );

        // In a multi line, the degenerate part goes and the rest stays.
        let lines =
            Geometry::MultiLineString(wkt!(MULTILINESTRING((0. 0., 1. 1.), (2. 2., 2. 2.))));
        assert_eq!(
            invalid_text(check(
                Some(lines.clone()),
                GeometryType::MultiLineString,
                &world(),
                false
            )),
            "line 1 has fewer than 2 distinct points"
        );
        assert_eq!(
            check(Some(lines), GeometryType::MultiLineString, &world(), true),
            Checked::Repaired {
                geometry: Geometry::MultiLineString(wkt!(MULTILINESTRING((0. 0., 1. 1.)))),
                problem: Problem::Invalid("line 1 has fewer than 2 distinct points".into()),
                done: "repeated points removed, 1 degenerate line dropped".into(),
            }
        );

        // Our line check is geo's, without its copy of the line.
        for line in [
            wkt!(LINESTRING(0. 0., 1. 1.)),
            wkt!(LINESTRING(0. 0., 0. 0.)),
            wkt!(LINESTRING(0. 0.)),
            wkt!(LINESTRING(0. 0., 0. 0., 1. 0.)),
            LineString::new(vec![]),
        ] {
            assert_eq!(
                line_defect(&line, None).is_none(),
                line.is_valid(),
                "{line:?}"
            );
        }
    }

    #[test]
    fn non_finite_coordinates_are_refused_even_with_repair() {
        let nan = Geometry::Polygon(Polygon::new(
            LineString::from(vec![(0., 0.), (1., 0.), (f64::NAN, 1.), (0., 0.)]),
            vec![],
        ));
        for repair in [false, true] {
            assert_eq!(
                invalid_text(check(
                    Some(nan.clone()),
                    GeometryType::Polygon,
                    &world(),
                    repair
                )),
                "coordinate 2 is not a finite number (NaN, 1)"
            );
        }
        // Checked before the bounds: the coordinate outside comes first here.
        let both = Geometry::LineString(LineString::from(vec![(500., 0.), (f64::INFINITY, 1.)]));
        assert_eq!(
            invalid_text(check(Some(both), GeometryType::LineString, &world(), true)),
            "coordinate 1 is not a finite number (inf, 1)"
        );
    }

    #[test]
    fn coordinates_outside_the_city_are_refused_with_the_first_one() {
        // Moscow is not in Kazan.
        let moscow = Geometry::Point(Point::new(37.6173, 55.7558));
        let problem = Problem::OutOfBounds {
            at: Coord {
                x: 37.6173,
                y: 55.7558,
            },
        };
        for repair in [false, true] {
            assert_eq!(
                check(Some(moscow.clone()), GeometryType::Point, &kazan(), repair),
                Checked::Refused(problem.clone())
            );
        }
        assert_eq!(problem.code(), "out_of_bounds");
        let text = problem.to_string();
        assert!(
            text.contains("(37.617300, 55.755800)") && text.contains("--srs"),
            "{text}"
        );

        // The first vertex outside, not the first vertex.
        let line = Geometry::LineString(wkt!(LINESTRING(49.1 55.7, 49.5 55.7, 50. 55.7)));
        assert_eq!(
            check(Some(line), GeometryType::LineString, &kazan(), false),
            Checked::Refused(Problem::OutOfBounds {
                at: Coord { x: 49.5, y: 55.7 }
            })
        );

        // The bounds are inclusive.
        let corner = Geometry::Point(Point::new(49.4, 56.0));
        assert!(matches!(
            check(Some(corner), GeometryType::Point, &kazan(), false),
            Checked::Valid(_)
        ));
    }

    #[test]
    fn a_line_does_not_fit_a_polygon_layer() {
        let line = Geometry::LineString(wkt!(LINESTRING(0. 0., 1. 1.)));
        let problem = Problem::WrongType {
            found: "LINESTRING",
            expected: "POLYGON",
        };
        for repair in [false, true] {
            assert_eq!(
                check(Some(line.clone()), GeometryType::Polygon, &world(), repair),
                Checked::Refused(problem.clone())
            );
        }
        // Even an invalid one: no repair makes a line a polygon, so that is
        // the reason given.
        let bad_line = Geometry::LineString(wkt!(LINESTRING(0. 0., 0. 0.)));
        assert_eq!(
            check(Some(bad_line), GeometryType::Polygon, &world(), true),
            Checked::Refused(problem.clone())
        );
        assert_eq!(problem.code(), "wrong_type");
        assert_eq!(
            problem.to_string(),
            "a LINESTRING does not fit a POLYGON layer"
        );
    }

    #[test]
    fn a_one_part_multipolygon_is_taken_as_a_polygon_only_with_repair() {
        let one = Geometry::MultiPolygon(wkt!(MULTIPOLYGON(((0. 0., 1. 0., 1. 1., 0. 0.)))));
        let problem = Problem::WrongType {
            found: "MULTIPOLYGON",
            expected: "POLYGON",
        };
        assert_eq!(
            check(Some(one.clone()), GeometryType::Polygon, &world(), false),
            Checked::Refused(problem.clone())
        );
        assert_eq!(
            check(Some(one), GeometryType::Polygon, &world(), true),
            Checked::Repaired {
                geometry: Geometry::Polygon(wkt!(POLYGON((0. 0., 1. 0., 1. 1., 0. 0.)))),
                problem: problem.clone(),
                done: "single polygon of a MULTIPOLYGON taken as POLYGON".into(),
            }
        );
        // Two parts stay refused.
        let two = Geometry::MultiPolygon(wkt!(MULTIPOLYGON(
            ((0. 0., 1. 0., 1. 1., 0. 0.)),
            ((5. 5., 6. 5., 6. 6., 5. 5.))
        )));
        assert_eq!(
            check(Some(two), GeometryType::Polygon, &world(), true),
            Checked::Refused(problem)
        );
        // The other way round is no problem at all: single parts are stored
        // in multi layers as they are.
        let single = Geometry::Polygon(wkt!(POLYGON((0. 0., 1. 0., 1. 1., 0. 0.))));
        assert_eq!(
            check(
                Some(single.clone()),
                GeometryType::MultiPolygon,
                &world(),
                false
            ),
            Checked::Valid(single)
        );
    }

    #[test]
    fn a_collection_of_polygons_becomes_a_multipolygon_with_repair() {
        let problem = Problem::WrongType {
            found: "GEOMETRYCOLLECTION",
            expected: "MULTIPOLYGON",
        };
        let gc = Geometry::GeometryCollection(GeometryCollection(vec![
            wkt!(POLYGON((0. 0., 1. 0., 1. 1., 0. 0.))).into(),
            wkt!(MULTIPOLYGON(((5. 5., 6. 5., 6. 6., 5. 5.)))).into(),
        ]));
        assert_eq!(
            check(
                Some(gc.clone()),
                GeometryType::MultiPolygon,
                &world(),
                false
            ),
            Checked::Refused(problem.clone())
        );
        assert_eq!(
            check(Some(gc.clone()), GeometryType::MultiPolygon, &world(), true),
            Checked::Repaired {
                geometry: Geometry::MultiPolygon(wkt!(MULTIPOLYGON(
                    ((0. 0., 1. 0., 1. 1., 0. 0.)),
                    ((5. 5., 6. 5., 6. 6., 5. 5.))
                ))),
                problem: problem.clone(),
                done: "GEOMETRYCOLLECTION taken as MULTIPOLYGON".into(),
            }
        );
        // A GEOMETRY layer holds it as it is.
        assert_eq!(
            check(Some(gc.clone()), GeometryType::Geometry, &world(), false),
            Checked::Valid(gc)
        );
        // A line among the polygons: no.
        let mixed = Geometry::GeometryCollection(GeometryCollection(vec![
            wkt!(POLYGON((0. 0., 1. 0., 1. 1., 0. 0.))).into(),
            wkt!(LINESTRING(0. 0., 1. 1.)).into(),
        ]));
        assert_eq!(
            check(Some(mixed), GeometryType::MultiPolygon, &world(), true),
            Checked::Refused(problem)
        );
    }

    #[test]
    fn overlapping_parts_are_merged_not_cut_out() {
        // Two 2×2 squares overlapping in a 1×1 square.
        let mp: MultiPolygon<f64> = wkt!(MULTIPOLYGON(
            ((0. 0., 2. 0., 2. 2., 0. 2., 0. 0.)),
            ((1. 1., 3. 1., 3. 3., 1. 3., 1. 1.))
        ));
        // geo's MakeValid on the whole multipolygon applies the odd-even rule
        // and cuts the overlap out (area 6): why fix_polygons unions instead.
        let odd_even = mp.make_valid().expect("finite coordinates");
        assert!((odd_even.unsigned_area() - 6.).abs() < 1e-9);

        let g = Geometry::MultiPolygon(mp);
        assert_eq!(
            invalid_text(check(
                Some(g.clone()),
                GeometryType::MultiPolygon,
                &world(),
                false
            )),
            "polygons 0 and 1 overlap near (2.000000, 1.000000)"
        );
        let Checked::Repaired { geometry, done, .. } =
            check(Some(g), GeometryType::MultiPolygon, &world(), true)
        else {
            panic!("overlapping parts can be merged")
        };
        assert_eq!(done, "overlapping polygons merged");
        assert_valid(&geometry);
        assert!((geometry.unsigned_area() - 7.).abs() < 1e-9, "{geometry:?}");
    }

    #[test]
    fn hole_outside_its_polygon() {
        let g = Geometry::Polygon(wkt!(POLYGON(
            (0. 0., 4. 0., 4. 4., 0. 4., 0. 0.),
            (5. 5., 6. 5., 6. 6., 5. 5.)
        )));
        assert_eq!(
            invalid_text(check(
                Some(g.clone()),
                GeometryType::Polygon,
                &world(),
                false
            )),
            "ring 1 (a hole) is not inside ring 0 (the outer ring) near (5.000000, 5.000000)"
        );
        // Odd-even makes the stray hole an island of its own, as GEOS's
        // MakeValid does.
        let Checked::Repaired { geometry, done, .. } =
            check(Some(g), GeometryType::MultiPolygon, &world(), true)
        else {
            panic!("a stray hole can be repaired")
        };
        assert_eq!(done, "hole outside its polygon resolved (now 2 polygons)");
        assert_valid(&geometry);
        assert!((geometry.unsigned_area() - 16.5).abs() < 1e-9);
    }

    #[test]
    fn null_and_empty() {
        for repair in [false, true] {
            assert_eq!(
                check(None, GeometryType::Polygon, &world(), repair),
                Checked::Refused(Problem::Null)
            );
            let empty = Geometry::MultiPolygon(MultiPolygon::<f64>::new(vec![]));
            assert_eq!(
                check(Some(empty), GeometryType::MultiPolygon, &world(), repair),
                Checked::Refused(Problem::Empty)
            );
            // Parts, all empty.
            let hollow = Geometry::MultiPolygon(MultiPolygon::new(vec![Polygon::new(
                LineString::new(vec![]),
                vec![],
            )]));
            assert_eq!(
                check(Some(hollow), GeometryType::MultiPolygon, &world(), repair),
                Checked::Refused(Problem::Empty)
            );
            // An empty point, as the readers give it.
            let no_point = Geometry::MultiPoint(MultiPoint::<f64>::new(vec![]));
            assert_eq!(
                check(Some(no_point), GeometryType::Point, &world(), repair),
                Checked::Refused(Problem::Empty)
            );
        }
        assert_eq!(Problem::Null.code(), "null");
        assert_eq!(Problem::Empty.code(), "empty");
        assert_eq!(Problem::Invalid(String::new()).code(), "invalid");
    }

    #[test]
    fn repair_keeps_parcel_sized_detail() {
        // A bow tie 5 m across in Kazan. geo's MakeValid at its own scale
        // snaps vertices closer than 0.0001 (degrees here) into one, and
        // nothing would be left; scaled (see `make_valid`) it is two
        // triangles.
        let (x, y, d) = (49.1, 55.79, 0.000_05);
        let bow_tie = Polygon::new(
            LineString::from(vec![(x, y), (x, y + d), (x + d, y), (x + d, y + d)]),
            vec![],
        );
        let Checked::Repaired { geometry, done, .. } = check(
            Some(bow_tie.into()),
            GeometryType::MultiPolygon,
            &kazan(),
            true,
        ) else {
            panic!("a small bow tie can be repaired")
        };
        assert_eq!(done, "self-intersection resolved (now 2 polygons)");
        assert_valid(&geometry);
        // Two triangles, each a quarter of the d × d square.
        let expected = d * d / 2.;
        let area = geometry.unsigned_area();
        assert!(
            (area - expected).abs() < 1e-6 * expected,
            "{area} ≠ {expected}"
        );
    }

    #[test]
    fn long_rings_are_checked_by_the_sweep() {
        // A circle of 20 000 points, about 1 km across, in Kazan: geo's
        // pairwise test would compare 400 million pairs of segments.
        let n = 20_000;
        let circle: Vec<Coord<f64>> = (0..n)
            .map(|k| {
                let t = f64::from(k) / f64::from(n) * std::f64::consts::TAU;
                Coord {
                    x: 49.1 + 0.01 * t.cos(),
                    y: 55.79 + 0.005 * t.sin(),
                }
            })
            .collect();
        let round = Geometry::Polygon(Polygon::new(LineString(circle.clone()), vec![]));
        assert!(matches!(
            check(Some(round), GeometryType::Polygon, &kazan(), false),
            Checked::Valid(_)
        ));

        // Two neighbouring points swapped: a crossing between them.
        let mut crossed = circle;
        crossed.swap(5_000, 5_001);
        let near_here = crossed[5_000];
        let text = invalid_text(check(
            Some(Polygon::new(LineString(crossed), vec![]).into()),
            GeometryType::Polygon,
            &kazan(),
            false,
        ));
        let at = text
            .strip_prefix("ring 0 intersects itself near (")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{text}"));
        let (lon, lat) = at.split_once(", ").unwrap();
        let (lon, lat): (f64, f64) = (lon.parse().unwrap(), lat.parse().unwrap());
        assert!(
            (lon - near_here.x).abs() < 1e-5 && (lat - near_here.y).abs() < 1e-5,
            "{text}"
        );
    }

    /// A small deterministic generator (xorshift64*), to need no crate.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        }

        /// A ring of 3 to `max` points on a `grid` × `grid` integer grid,
        /// where crossings, touches, repeated and collinear points are common.
        fn ring(&mut self, max: u64, grid: u64) -> LineString<f64> {
            let points = 3 + self.below(max - 2);
            #[allow(clippy::cast_precision_loss)] // small integers
            let coords = (0..points)
                .map(|_| (self.below(grid) as f64, self.below(grid) as f64))
                .collect::<Vec<_>>();
            LineString::from(coords)
        }

        /// A ring of 3 or 4 points in a 3 × 3 window somewhere in 0..8.
        #[allow(clippy::cast_precision_loss)] // small integers
        fn small_ring(&mut self) -> LineString<f64> {
            let (x, y) = (self.below(6), self.below(6));
            let coords = (0..3 + self.below(2))
                .map(|_| ((x + self.below(3)) as f64, (y + self.below(3)) as f64))
                .collect::<Vec<_>>();
            LineString::from(coords)
        }
    }

    /// The sweep path (`sweep_from` 0) gives the same first error as geo's
    /// own validation on random small polygons and multipolygons full of
    /// degenerate cases, and on every Forest City parcel.
    #[test]
    fn sweep_agrees_with_geo() {
        let mut rng = Rng(0x5eed_1234_abcd_0042);
        // How often each outcome came up: the comparison proves little for
        // an outcome never met.
        let mut seen = std::collections::BTreeMap::<String, usize>::new();
        let mut tally = |what: &str, outcome: String| {
            let variant = outcome.split('(').next().unwrap_or_default();
            *seen.entry(format!("{what} {variant}")).or_default() += 1;
        };
        for round in 0..30_000 {
            // Half of them a plain square with small holes, where holes
            // inside, outside, overlapping and sharing edges are common.
            let polygon = if round % 2 == 0 {
                let holes = (0..=rng.below(3)).map(|_| rng.small_ring()).collect();
                Polygon::new(wkt!(LINESTRING(0. 0., 8. 0., 8. 8., 0. 8., 0. 0.)), holes)
            } else {
                let holes = (0..rng.below(3)).map(|_| rng.ring(5, 9)).collect();
                Polygon::new(rng.ring(8, 9), holes)
            };
            let ours = polygon_validity(&polygon, 0);
            assert_eq!(ours, polygon.check_validation(), "{polygon:?}");
            tally(
                "polygon",
                ours.map_or_else(|e| format!("{e:?}"), |()| "valid".into()),
            );
        }
        for _ in 0..3_000 {
            let polygons = MultiPolygon::new(
                (0..2)
                    .map(|_| Polygon::new(rng.ring(5, 6), vec![]))
                    .collect(),
            );
            let ours = multi_polygon_validity(&polygons, 0);
            assert_eq!(ours, polygons.check_validation(), "{polygons:?}");
            tally(
                "multi",
                ours.map_or_else(|e| format!("{e:?}"), |()| "valid".into()),
            );
        }
        for outcome in [
            "polygon valid",
            "polygon TooFewPointsInRing",
            "polygon SelfIntersection",
            "polygon InteriorRingNotContainedInExteriorRing",
            "polygon IntersectingRingsOnALine",
            "polygon IntersectingRingsOnAnArea",
            "multi valid",
            "multi InvalidPolygon",
            "multi ElementsOverlaps",
            "multi ElementsTouchOnALine",
        ] {
            assert!(
                seen.get(outcome).is_some_and(|&n| n >= 5),
                "{outcome}: {seen:?}"
            );
        }

        for (i, g) in geometries("forestcity_nc/parcels_from_topojson.geojson") {
            match g {
                Some(Geometry::Polygon(p)) => {
                    assert_eq!(polygon_validity(&p, 0), p.check_validation(), "{i}");
                }
                Some(Geometry::MultiPolygon(m)) => {
                    assert_eq!(multi_polygon_validity(&m, 0), m.check_validation(), "{i}");
                }
                _ => {}
            }
        }
    }

    // ====== Real files ======

    /// What check made of each feature of a file.
    struct Tally {
        valid: Vec<u64>,
        repaired: Vec<Fixed>,
        refused: Vec<(u64, Problem)>,
    }

    /// A feature repair made valid.
    struct Fixed {
        index: u64,
        problem: Problem,
        done: String,
        /// Planar, in square degrees: comparable with GEOS's `ST_Area`.
        area: f64,
    }

    /// A copy of a shared data file among the test fixtures (see
    /// `tests/fixtures/import/SOURCES.md`).
    fn data(rel: &str) -> String {
        let fixture = match rel {
            "forestcity_nc/parcels_from_topojson.geojson" => {
                "import/forestcity_parcels_from_topojson.geojson"
            }
            "kazan/moscow_districts_cianparser.geojson" => {
                "import/moscow_districts_cianparser.geojson"
            }
            "nl_georust/nl_zoning_4326.geojson" => "nl_georust/nl_zoning_4326.geojson",
            "flatgeobuf/countries.fgb" => "import/countries.fgb",
            other => other,
        };
        format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"))
    }

    /// The features' geometries, lon/lat already for these files.
    fn geometries(rel: &str) -> Vec<(u64, Option<Geometry<f64>>)> {
        let path = data(rel);
        open(Path::new(&path), &ReadOptions::default())
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .map(|f| {
                let f = f.unwrap_or_else(|e| panic!("{path}: {e}"));
                (f.index, f.geometry)
            })
            .collect()
    }

    fn tally(rel: &str, repair: bool) -> Tally {
        let mut t = Tally {
            valid: vec![],
            repaired: vec![],
            refused: vec![],
        };
        for (index, g) in geometries(rel) {
            match check(g, GeometryType::MultiPolygon, &world(), repair) {
                Checked::Valid(_) => t.valid.push(index),
                Checked::Repaired {
                    geometry,
                    problem,
                    done,
                } => {
                    assert_valid(&geometry);
                    t.repaired.push(Fixed {
                        index,
                        problem,
                        done,
                        area: geometry.unsigned_area(),
                    });
                }
                Checked::Refused(p) => t.refused.push((index, p)),
            }
        }
        t
    }

    /// What a file's invalid feature must come to.
    struct Expect {
        index: u64,
        /// The `Problem::Invalid` text.
        why: &'static str,
        done: &'static str,
        /// GEOS's area of the repair: `ogrinfo -dialect sqlite -sql "select
        /// rowid, st_area(st_makevalid(geometry)) from … where rowid in (…)"`
        /// (GDAL 3.6.2, GEOS 3.11.1, `MakeValid`'s "linework" method).
        geos_area: f64,
    }

    /// A file into a MULTIPOLYGON layer: without repair, exactly the
    /// `invalid` features refused as Invalid (for the reason given) and the
    /// `empty` ones as Null or Empty, the rest Valid; with repair, the same
    /// invalid ones Repaired, valid, with GEOS's area, the rest as before.
    /// Indices are GDAL's FIDs too: `ogrinfo -dialect sqlite -sql "select
    /// rowid, IsValidReason(geometry) from … where not st_isvalid(geometry)"`
    /// finds the same features.
    fn assert_file(rel: &str, total: usize, invalid: &[Expect], empty: &[u64]) {
        let strict = tally(rel, false);
        assert_eq!(strict.valid.len() + strict.refused.len(), total, "{rel}");
        assert!(strict.repaired.is_empty());
        let refused_invalid: Vec<(u64, Problem)> = strict
            .refused
            .iter()
            .filter(|(_, p)| matches!(p, Problem::Invalid(_)))
            .cloned()
            .collect();
        let expected: Vec<(u64, Problem)> = invalid
            .iter()
            .map(|e| (e.index, Problem::Invalid(e.why.to_owned())))
            .collect();
        assert_eq!(refused_invalid, expected, "{rel}");
        let refused_empty: Vec<u64> = strict
            .refused
            .iter()
            .filter(|(_, p)| matches!(p, Problem::Null | Problem::Empty))
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(refused_empty, empty, "{rel}: {:#?}", strict.refused);
        assert_eq!(strict.refused.len(), invalid.len() + empty.len());

        let lenient = tally(rel, true);
        assert_eq!(lenient.valid, strict.valid, "{rel}");
        let still_refused: Vec<u64> = lenient.refused.iter().map(|(i, _)| *i).collect();
        assert_eq!(still_refused, empty, "{rel}: {:#?}", lenient.refused);
        assert_eq!(lenient.repaired.len(), invalid.len(), "{rel}");
        for (fixed, e) in lenient.repaired.iter().zip(invalid) {
            assert_eq!(fixed.index, e.index, "{rel}");
            assert_eq!(fixed.problem, Problem::Invalid(e.why.to_owned()), "{rel}");
            assert_eq!(fixed.done, e.done, "{rel}: feature {}", e.index);
            let off = (fixed.area - e.geos_area).abs() / e.geos_area;
            assert!(
                off < 1e-9,
                "{rel}: feature {}: area {} against GEOS's {}",
                e.index,
                fixed.area,
                e.geos_area
            );
        }
    }

    #[test]
    fn moscow_districts_two_self_intersections() {
        assert_file(
            "kazan/moscow_districts_cianparser.geojson",
            12,
            &[
                Expect {
                    index: 1,
                    why: "ring 0 of polygon 0 intersects itself near (37.550200, 55.580920)",
                    done: "repeated points removed, self-intersection resolved",
                    geos_area: 0.051_213_720_649_999_7,
                },
                Expect {
                    index: 3,
                    why: "ring 0 intersects itself near (37.550200, 55.580920)",
                    done: "repeated points removed, self-intersection resolved",
                    geos_area: 0.015_884_475_399_999_9,
                },
            ],
            &[],
        );
    }

    #[test]
    fn nl_zoning_one_self_intersection() {
        assert_file(
            "nl_georust/nl_zoning_4326.geojson",
            91,
            &[Expect {
                index: 88,
                why: "ring 0 intersects itself near (5.541008, 52.329611)",
                done: "repeated points removed, self-intersection resolved (now 2 polygons)",
                geos_area: 4.181_145_121_831_25e-5,
            }],
            &[],
        );
    }

    #[test]
    fn countries_two_invalid() {
        assert_file(
            "flatgeobuf/countries.fgb",
            179,
            &[
                Expect {
                    index: 0,
                    why: "ring 0 of polygon 7 intersects itself near (-165.342754, -84.721116)",
                    done: "repeated points removed, self-intersection resolved (now 3 polygons)",
                    geos_area: 4_149.589_246_044_68,
                },
                Expect {
                    index: 166,
                    why: "ring 0 of polygon 4 intersects itself near (-132.710008, 54.040009)",
                    done: "repeated points removed, self-intersection resolved",
                    geos_area: 1_712.995_231_364_62,
                },
            ],
            &[],
        );
    }

    #[test]
    fn forest_city_parcels_three_empty_three_invalid() {
        assert_file(
            "forestcity_nc/parcels_from_topojson.geojson",
            7234,
            &[
                Expect {
                    index: 1922,
                    why: "ring 0 intersects itself near (-81.860104, 35.291736)",
                    done: "self-intersection resolved (now 2 polygons)",
                    geos_area: 3.370_760_671_843_74e-7,
                },
                Expect {
                    index: 5485,
                    why: "ring 0 intersects itself near (-81.880051, 35.312258)",
                    done: "self-intersection resolved (now 2 polygons)",
                    geos_area: 6.040_331_515_926_61e-7,
                },
                // A spike: an edge out to (-81.901837, 35.315536) and back.
                // At geo's own scale MakeValid snapped this parcel to half its
                // area (see `make_valid`).
                Expect {
                    index: 6766,
                    why: "ring 0 intersects itself near (-81.902236, 35.315319)",
                    done: "self-intersection resolved",
                    geos_area: 1.378_328_794_994_37e-7,
                },
            ],
            &[1343, 3321, 6957],
        );
    }

    /// Rough figures for `check()` without repair; asserts no time.
    /// `cargo test --release --lib import::validate -- --ignored --nocapture`
    #[test]
    #[ignore = "timing, run by hand"]
    fn time_check() {
        for rel in [
            "forestcity_nc/parcels_from_topojson.geojson",
            "nl_georust/nl_zoning_4326.geojson",
            "kazan/moscow_districts_cianparser.geojson",
            "flatgeobuf/countries.fgb",
        ] {
            let features = geometries(rel);
            let rounds: u32 = 5;
            let mut total = Duration::ZERO;
            let mut slowest = (Duration::ZERO, 0, 0);
            for _ in 0..rounds {
                // Cloned, and the results dropped, outside the clock:
                // check() itself neither copies nor frees.
                let batch = features.clone();
                let mut results = Vec::with_capacity(batch.len());
                for (i, g) in batch {
                    let vertices = g.as_ref().map_or(0, CoordsIter::coords_count);
                    let start = Instant::now();
                    let checked = check(g, GeometryType::MultiPolygon, &world(), false);
                    let spent = start.elapsed();
                    total += spent;
                    if spent > slowest.0 {
                        slowest = (spent, i, vertices);
                    }
                    results.push(checked);
                }
            }
            let n = u32::try_from(features.len()).expect("a few thousand");
            let vertices: usize = features
                .iter()
                .filter_map(|(_, g)| g.as_ref().map(CoordsIter::coords_count))
                .sum();
            eprintln!(
                "{rel}: {n} features, {vertices} vertices: {:?} per pass, {:?} per feature; \
                 slowest feature {} ({} vertices): {:?}",
                total / rounds,
                total / (rounds * n),
                slowest.1,
                slowest.2,
                slowest.0
            );
        }
    }
}
