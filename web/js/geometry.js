// Small helpers over GeoJSON geometries (EPSG:4326, lon/lat degrees).

/** [minLon, minLat, maxLon, maxLat] of a GeoJSON geometry, or null if empty. */
export function geometryBbox(geometry) {
  const box = [Infinity, Infinity, -Infinity, -Infinity];
  const visit = (coords) => {
    if (typeof coords[0] === 'number') {
      box[0] = Math.min(box[0], coords[0]);
      box[1] = Math.min(box[1], coords[1]);
      box[2] = Math.max(box[2], coords[0]);
      box[3] = Math.max(box[3], coords[1]);
    } else {
      coords.forEach(visit);
    }
  };
  if (!geometry) return null;
  if (geometry.type === 'GeometryCollection') {
    geometry.geometries.forEach((g) => g.coordinates && visit(g.coordinates));
  } else if (geometry.coordinates) {
    visit(geometry.coordinates);
  }
  return box[0] <= box[2] ? box : null;
}

/** The union of bboxes ([minLon, minLat, maxLon, maxLat]); nulls are skipped. */
export function unionBbox(boxes) {
  let out = null;
  for (const b of boxes) {
    if (!Array.isArray(b) || b.length !== 4 || b.some((v) => !Number.isFinite(v))) continue;
    out = out
      ? [Math.min(out[0], b[0]), Math.min(out[1], b[1]), Math.max(out[2], b[2]), Math.max(out[3], b[3])]
      : [...b];
  }
  return out;
}

/** Bbox as MapLibre bounds [[west, south], [east, north]]. */
export function toBounds(b) {
  return [[b[0], b[1]], [b[2], b[3]]];
}
