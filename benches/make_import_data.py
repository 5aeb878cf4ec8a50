#!/usr/bin/env python3
"""Makes the data file of benches/compare_postgis_import.sh: a large GeoJSON
FeatureCollection of real parcels, for timing `imgis import` beside ogr2ogr.

    python3 benches/make_import_data.py OUT.geojson [--copies N]

Reads the 7 234 parcels of Forest City NC (shared/data/forestcity_nc/
parcels_from_topojson.geojson beside the repository: lon/lat, no crs member,
3 empty and 3 invalid geometries, kept as they are) and writes N copies
(default 49) of them on a grid of ceil(sqrt(N)) columns (7 x 7 for 49: 354 466
features, ~170 MB). Copy k sits k % columns source-extent widths east and
k // columns heights north of the original, plus a gap of 1 % of the extent,
so copies do not overlap and every coordinate stays valid lon/lat.
Coordinates are rounded to 7 decimals (~1 cm), the original copy included.

Each feature keeps every property and gains `copy` (int), `pin_copy`
(f"{PIN}-{copy}") and `oid_copy` (f"{OBJECTID}-{copy}"). Note: two PINs occur
twice in the source, so `pin_copy` is unique except for 2 pairs per copy;
`oid_copy` is unique.

Python 3 standard library only. The output is written one feature per line
as it goes (memory stays that of the source file), to OUT.tmp renamed to OUT
at the end, and is the same bytes on every run.
"""

import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# The fixture copy of shared/data/forestcity_nc/parcels_from_topojson.geojson
# (tests/fixtures/import/SOURCES.md), so that a clone of the repository is enough.
SOURCE = os.path.join(HERE, "..", "tests", "fixtures", "import",
                      "forestcity_parcels_from_topojson.geojson")
GAP = 0.01  # between copies, as a fraction of the source extent
DIGITS = 7


def positions(coords):
    """Every [x, y, ...] position in a nested coordinate array."""
    if coords and isinstance(coords[0], (int, float)):
        yield coords
    else:
        for c in coords:
            yield from positions(c)


def shifted(coords, dx, dy):
    """The nested coordinate array moved by (dx, dy), rounded."""
    if coords and isinstance(coords[0], (int, float)):
        return [round(coords[0] + dx, DIGITS), round(coords[1] + dy, DIGITS)] + coords[2:]
    return [shifted(c, dx, dy) for c in coords]


def shifted_geometry(geom, dx, dy):
    if geom is None:
        return None
    if geom.get("type") == "GeometryCollection":
        out = dict(geom)
        out["geometries"] = [shifted_geometry(g, dx, dy) for g in geom["geometries"]]
        return out
    out = dict(geom)
    out["coordinates"] = shifted(geom["coordinates"], dx, dy)
    return out


def geometry_positions(geom):
    if geom is None:
        return
    if geom.get("type") == "GeometryCollection":
        for g in geom["geometries"]:
            yield from geometry_positions(g)
    else:
        yield from positions(geom["coordinates"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="the GeoJSON file to write")
    ap.add_argument("--copies", type=int, default=49, help="copies of the parcels (default 49)")
    args = ap.parse_args()
    if args.copies < 1:
        ap.error("--copies must be at least 1")

    started = time.monotonic()
    with open(SOURCE, encoding="utf-8") as f:
        src = json.load(f)
    features = src["features"]

    xs, ys = [], []
    for feat in features:
        for p in geometry_positions(feat.get("geometry")):
            xs.append(p[0])
            ys.append(p[1])
    minx, maxx, miny, maxy = min(xs), max(xs), min(ys), max(ys)
    del xs, ys
    width, height = maxx - minx, maxy - miny
    cols = math.ceil(math.sqrt(args.copies))
    rows = math.ceil(args.copies / cols)
    step_x, step_y = width * (1 + GAP), height * (1 + GAP)
    top_x, top_y = minx + (cols - 1) * step_x + width, miny + (rows - 1) * step_y + height
    if not (-180 <= minx and top_x <= 180 and -90 <= miny and top_y <= 90):
        sys.exit(f"a {cols} x {rows} grid of the extent leaves lon/lat: "
                 f"[{minx}, {miny}] .. [{top_x}, {top_y}]")

    head = {"type": "FeatureCollection"}
    if "name" in src:
        head["name"] = src["name"]
    prefix = json.dumps(head, separators=(",", ":"))[:-1] + ',"features":[\n'

    tmp = args.out + ".tmp"
    count = 0
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write(prefix)
        for copy in range(args.copies):
            dx = (copy % cols) * step_x
            dy = (copy // cols) * step_y
            for feat in features:
                props = dict(feat.get("properties") or {})
                props["copy"] = copy
                props["pin_copy"] = f"{props.get('PIN')}-{copy}"
                props["oid_copy"] = f"{props.get('OBJECTID')}-{copy}"
                obj = {"type": "Feature"}
                if "id" in feat:
                    obj["id"] = feat["id"]
                obj["properties"] = props
                obj["geometry"] = shifted_geometry(feat.get("geometry"), dx, dy)
                if count:
                    out.write(",\n")
                out.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))
                count += 1
        out.write("\n]}\n")
    os.replace(tmp, args.out)

    size = os.path.getsize(args.out)
    print(f"{args.out}: {count} features ({args.copies} copies of {len(features)} "
          f"on a {cols} x {rows} grid), {size} bytes = {size / 1e6:.1f} MB, "
          f"{time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
