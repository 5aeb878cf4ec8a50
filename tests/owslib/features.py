"""OWSLib (PyPI, the Python OGC client) reading imgis as an OGC API - Features
server: conformance, collections, and items with bbox and limit. Prints what
it read as JSON for tests/ogc_features.rs to compare with the index.

Usage: features.py BASE_URL COLLECTION WEST SOUTH EAST NORTH LIMIT
"""
import json
import sys

from owslib.ogcapi.features import Features


def main():
    url, collection = sys.argv[1], sys.argv[2]
    west, south, east, north = (float(v) for v in sys.argv[3:7])
    limit = int(sys.argv[7])
    api = Features(url)
    conformance = api.conformance()["conformsTo"]
    collections = [c["id"] for c in api.collections()["collections"]]
    one = api.collection(collection)
    page = api.collection_items(collection, bbox=[west, south, east, north], limit=limit)
    first = api.collection_items(collection, limit=limit)
    print(json.dumps({
        "conformance": conformance,
        "collections": collections,
        "collection_id": one["id"],
        "bbox_ids": [f["id"] for f in page["features"]],
        "bbox_matched": page.get("numberMatched"),
        "first_ids": [f["id"] for f in first["features"]],
        "first_next": [l["href"] for l in first["links"] if l["rel"] == "next"],
    }))


if __name__ == "__main__":
    main()
