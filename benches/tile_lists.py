#!/usr/bin/env python3
"""Fixed, seeded tile lists for the tile benchmarks (compare_postgis_tiles.sh,
per_core.sh): from WORK/layers.json (the server's GET /layers), writes
WORK/layers.tsv (order, code, zooms), and for two lists, `map` (every layer in
one composite tile, z12-z16) and `parcels` (z14-z16), PER_ZOOM tiles per zoom
at random spots of the parcels' extent: WORK/<list>.paths (URL paths) and
WORK/<list>.tsv (number, z, x, y, layers).

Usage: tile_lists.py WORK PER_ZOOM

Also a module: `tile` is the XYZ tile arithmetic load_test.sh uses too.
"""
import json, math, random, sys


def tile(lon, lat, z):
    """The XYZ tile (x, y) holding lon/lat degrees (EPSG:4326) at zoom z,
    spherical Mercator."""
    k = 2 ** z
    phi = math.radians(lat)
    return (int((lon + 180) / 360 * k),
            int((1 - math.log(math.tan(phi) + 1 / math.cos(phi)) / math.pi) / 2 * k))


def main():
    work, per_zoom = sys.argv[1], int(sys.argv[2])
    layers = json.load(open(f"{work}/layers.json"))["layers"]
    with open(f"{work}/layers.tsv", "w") as f:
        for i, l in enumerate(layers):
            f.write(f"{i}\t{l['code']}\t{l['minzoom']}\t{l['maxzoom']}\n")
    w, s, e, n = next(l["bbox"] for l in layers if l["code"] == "parcels")
    rng = random.Random(2026)
    for name, codes, zooms in [("map", [l["code"] for l in layers], range(12, 17)),
                               ("parcels", ["parcels"], range(14, 17))]:
        tiles = [(z, *tile(rng.uniform(w, e), rng.uniform(s, n), z))
                 for z in zooms for _ in range(per_zoom)]
        rng.shuffle(tiles)
        with open(f"{work}/{name}.paths", "w") as f:
            for z, x, y in tiles:
                f.write(f"/tiles/{','.join(codes)}/{z}/{x}/{y}.mvt\n")
        with open(f"{work}/{name}.tsv", "w") as f:
            for i, (z, x, y) in enumerate(tiles, 1):
                f.write(f"{i}\t{z}\t{x}\t{y}\t{','.join(codes)}\n")


if __name__ == "__main__":
    main()
