//! Douglas–Peucker simplification in tile pixels, in place.
//!
//! `geo`'s `Simplify` is the same algorithm, but it takes and returns an owned
//! `LineString`: two allocations per ring, on a path that sees every vertex of
//! every feature of every tile. This one works on the caller's buffer with
//! reusable scratch, and knows closed rings (given without their closing point).

use super::clip::Px;

/// Reusable scratch for [`Simplifier::simplify`].
#[derive(Debug, Default)]
pub(crate) struct Simplifier {
    /// Per vertex: kept by the simplification.
    keep: Vec<bool>,
    /// Vertex ranges `(first, last)` still to examine.
    stack: Vec<(usize, usize)>,
}

impl Simplifier {
    /// Drops vertices of `points` so that none of the dropped ones lies farther
    /// than `tolerance` (tile pixels) from the simplified line. A `closed` ring
    /// is given without its closing point and returned so; its first point stays.
    pub(crate) fn simplify(&mut self, points: &mut Vec<Px>, closed: bool, tolerance: f64) {
        let n = points.len();
        // Nothing to gain on a triangle or a quadrilateral (most parcels): at
        // best a vertex within the tolerance would go, which is no visible change.
        if tolerance <= 0.0 || n <= if closed { 4 } else { 2 } {
            return;
        }
        // A ring is walked as the open line p0 … p(n-1) p0; index n stands for p0.
        let last = if closed { n } else { n - 1 };
        let at = |i: usize| points[if i == n { 0 } else { i }];
        let tolerance_sq = tolerance * tolerance;
        self.keep.clear();
        self.keep.resize(last + 1, false);
        self.keep[0] = true;
        self.keep[last] = true;
        self.stack.clear();
        self.stack.push((0, last));
        while let Some((first, end)) = self.stack.pop() {
            if end - first < 2 {
                continue;
            }
            let (a, b) = (at(first), at(end));
            let (mut far, mut far_sq) = (first, -1.0);
            for (k, p) in points.iter().enumerate().take(end).skip(first + 1) {
                let d = segment_distance_sq(*p, a, b);
                if d > far_sq {
                    (far, far_sq) = (k, d);
                }
            }
            if far_sq > tolerance_sq {
                self.keep[far] = true;
                self.stack.push((first, far));
                self.stack.push((far, end));
            }
        }
        let mut i = 0;
        points.retain(|_| {
            i += 1;
            self.keep[i - 1]
        });
    }
}

/// Squared distance from `p` to the segment `a`–`b` (to `a` if the two coincide).
fn segment_distance_sq(p: Px, a: Px, b: Px) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len_sq = dx * dx + dy * dy;
    let t = if len_sq == 0.0 {
        0.0
    } else {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len_sq).clamp(0.0, 1.0)
    };
    let (ex, ey) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
    ex * ex + ey * ey
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_collinear_vertices_go_and_corners_stay() {
        let mut line = vec![[0.0, 0.0], [5.0, 0.3], [10.0, 0.0], [10.0, 10.0]];
        Simplifier::default().simplify(&mut line, false, 0.5);
        assert_eq!(line, vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]]);
        let mut kept = vec![[0.0, 0.0], [5.0, 0.3], [10.0, 0.0]];
        Simplifier::default().simplify(&mut kept, false, 0.2);
        assert_eq!(kept.len(), 3, "0.3 px off the line is beyond 0.2 px");
    }

    #[test]
    fn a_ring_keeps_its_corners_and_its_first_point() {
        let mut ring = vec![
            [0.0, 0.0],
            [5.0, 0.1],
            [10.0, 0.0],
            [10.0, 10.0],
            [5.0, 10.1],
            [0.0, 10.0],
        ];
        Simplifier::default().simplify(&mut ring, true, 0.5);
        assert_eq!(
            ring,
            vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]
        );
    }
}
