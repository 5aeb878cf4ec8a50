//! Clipping to the tile's square plus buffer, in tile pixels.
//!
//! Axis-aligned clipping is all a tile needs, so the classic special-purpose
//! algorithms serve: Sutherland–Hodgman for rings, Liang–Barsky for line
//! segments. They are linear in the vertex count and work on caller-owned
//! buffers. `geo`'s `BooleanOps` would give topologically cleaner polygons
//! (no zero-width bridges along the clip edge where a concave ring leaves and
//! re-enters) but allocates and sweeps per feature at about a hundred times the
//! cost; the bridges lie in the buffer, outside the drawn tile, and renderers
//! fill them as nothing.

/// A point in tile pixels, `[x, y]`, y down.
pub(crate) type Px = [f64; 2];

/// The clip square in tile pixels: `min ..= max` on both axes
/// (`-buffer ..= extent + buffer`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClipBox {
    pub(crate) min: f64,
    pub(crate) max: f64,
}

/// An axis-aligned box of points, tile pixels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bbox {
    pub(crate) min: Px,
    pub(crate) max: Px,
}

impl Bbox {
    /// The box of `points`; `None` when there are none.
    pub(crate) fn of(points: &[Px]) -> Option<Self> {
        let (first, rest) = points.split_first()?;
        let mut b = Bbox {
            min: *first,
            max: *first,
        };
        for p in rest {
            b.min[0] = b.min[0].min(p[0]);
            b.min[1] = b.min[1].min(p[1]);
            b.max[0] = b.max[0].max(p[0]);
            b.max[1] = b.max[1].max(p[1]);
        }
        Some(b)
    }

    pub(crate) fn area(&self) -> f64 {
        (self.max[0] - self.min[0]) * (self.max[1] - self.min[1])
    }
}

impl ClipBox {
    pub(crate) fn contains(&self, p: Px) -> bool {
        (self.min..=self.max).contains(&p[0]) && (self.min..=self.max).contains(&p[1])
    }

    pub(crate) fn contains_box(&self, b: &Bbox) -> bool {
        self.min <= b.min[0] && self.min <= b.min[1] && b.max[0] <= self.max && b.max[1] <= self.max
    }

    pub(crate) fn misses_box(&self, b: &Bbox) -> bool {
        b.max[0] < self.min || b.max[1] < self.min || b.min[0] > self.max || b.min[1] > self.max
    }

    /// Clips a ring (given without its closing point) to the box, Sutherland–
    /// Hodgman: one pass per box side that `bbox` (the ring's box) crosses.
    /// The result keeps the ring's orientation; it may be empty. `tmp` is scratch.
    pub(crate) fn clip_ring(&self, ring: &mut Vec<Px>, tmp: &mut Vec<Px>, bbox: &Bbox) {
        let sides = [
            (0, self.min, true, bbox.min[0] < self.min),
            (0, self.max, false, bbox.max[0] > self.max),
            (1, self.min, true, bbox.min[1] < self.min),
            (1, self.max, false, bbox.max[1] > self.max),
        ];
        for (axis, bound, keep_above, crosses) in sides {
            if crosses {
                clip_side(ring, tmp, axis, bound, keep_above);
                std::mem::swap(ring, tmp);
            }
        }
    }

    /// Clips a line to the box. Every part inside is appended to `out`, and the
    /// index one past its last point to `ends`. Both are cleared first.
    pub(crate) fn clip_line(&self, line: &[Px], out: &mut Vec<Px>, ends: &mut Vec<usize>) {
        out.clear();
        ends.clear();
        // Whether the part last pushed to `out` is still going (its last point
        // is the current segment's start, inside the box).
        let mut open = false;
        for w in line.windows(2) {
            let (a, b) = (w[0], w[1]);
            let Some((t0, t1)) = self.segment(a, b) else {
                if open {
                    ends.push(out.len());
                    open = false;
                }
                continue;
            };
            if open && t0 > 0.0 {
                // Only on a hair's-breadth exit and re-entry at a corner.
                ends.push(out.len());
                open = false;
            }
            if !open {
                out.push(lerp(a, b, t0));
                open = true;
            }
            out.push(lerp(a, b, t1));
            if t1 < 1.0 {
                ends.push(out.len());
                open = false;
            }
        }
        if open {
            ends.push(out.len());
        }
    }

    /// Liang–Barsky: the parameter range `t0 ..= t1` (within 0 ..= 1) of the
    /// segment `a + t (b − a)` inside the box, or `None` if it misses.
    fn segment(&self, a: Px, b: Px) -> Option<(f64, f64)> {
        let d = [b[0] - a[0], b[1] - a[1]];
        let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
        for axis in 0..2 {
            // The segment is inside where p·t <= q for both (p, q) pairs.
            for (p, q) in [
                (-d[axis], a[axis] - self.min),
                (d[axis], self.max - a[axis]),
            ] {
                if p == 0.0 {
                    if q < 0.0 {
                        return None;
                    }
                } else {
                    let r = q / p;
                    if p < 0.0 {
                        if r > t1 {
                            return None;
                        }
                        t0 = t0.max(r);
                    } else {
                        if r < t0 {
                            return None;
                        }
                        t1 = t1.min(r);
                    }
                }
            }
        }
        Some((t0, t1))
    }
}

/// The point at `t` on segment `a → b`; exactly `a` at 0 and `b` at 1.
fn lerp(a: Px, b: Px, t: f64) -> Px {
    if t == 1.0 {
        b
    } else {
        [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
    }
}

/// One Sutherland–Hodgman pass: keeps the part of closed ring `src` on one side
/// of the line `p[axis] == bound` (above it if `keep_above`), into `dst`.
fn clip_side(src: &[Px], dst: &mut Vec<Px>, axis: usize, bound: f64, keep_above: bool) {
    dst.clear();
    let inside = |p: &Px| {
        if keep_above {
            p[axis] >= bound
        } else {
            p[axis] <= bound
        }
    };
    let Some(&last) = src.last() else { return };
    let (mut prev, mut prev_in) = (last, inside(&last));
    for &cur in src {
        let cur_in = inside(&cur);
        if cur_in != prev_in {
            // The two ends lie on either side, so prev[axis] != cur[axis].
            let t = (bound - prev[axis]) / (cur[axis] - prev[axis]);
            let other = 1 - axis;
            let mut p = [0.0; 2];
            p[axis] = bound;
            p[other] = prev[other] + t * (cur[other] - prev[other]);
            dst.push(p);
        }
        if cur_in {
            dst.push(cur);
        }
        (prev, prev_in) = (cur, cur_in);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOX: ClipBox = ClipBox {
        min: 0.0,
        max: 10.0,
    };

    fn clip(ring: &[Px]) -> Vec<Px> {
        let mut r = ring.to_vec();
        let b = Bbox::of(&r).unwrap();
        BOX.clip_ring(&mut r, &mut Vec::new(), &b);
        r
    }

    #[test]
    fn a_ring_inside_is_unchanged_and_one_outside_vanishes() {
        let inside = [[1.0, 1.0], [5.0, 1.0], [5.0, 5.0]];
        assert_eq!(clip(&inside), inside.to_vec());
        assert!(clip(&[[11.0, 1.0], [15.0, 1.0], [15.0, 5.0]]).is_empty());
    }

    #[test]
    fn a_ring_over_a_corner_is_cut_to_the_box() {
        let r = clip(&[[5.0, 5.0], [15.0, 5.0], [15.0, 15.0], [5.0, 15.0]]);
        let b = Bbox::of(&r).unwrap();
        assert_eq!((b.min, b.max), ([5.0, 5.0], [10.0, 10.0]));
        // Shoelace area of the clipped ring: the 5 × 5 square left inside.
        let area: f64 = (0..r.len())
            .map(|i| {
                let (p, q) = (r[i], r[(i + 1) % r.len()]);
                p[0] * q[1] - q[0] * p[1]
            })
            .sum::<f64>()
            / 2.0;
        assert!((area - 25.0).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn a_line_in_and_out_and_in_again_gives_two_parts() {
        let line = [
            [-5.0, 2.0],
            [5.0, 2.0],
            [5.0, 20.0],
            [8.0, 20.0],
            [8.0, 5.0],
        ];
        let (mut out, mut ends) = (vec![], vec![]);
        BOX.clip_line(&line, &mut out, &mut ends);
        assert_eq!(ends, vec![3, 5]);
        assert_eq!(&out[..3], &[[0.0, 2.0], [5.0, 2.0], [5.0, 10.0]]);
        assert_eq!(&out[3..], &[[8.0, 10.0], [8.0, 5.0]]);
        // Wholly outside: nothing.
        BOX.clip_line(&[[-5.0, -5.0], [20.0, -1.0]], &mut out, &mut ends);
        assert!(out.is_empty() && ends.is_empty());
    }
}
