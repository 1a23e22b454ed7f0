"""Regenerate borders.geojson from the Natural Earth 1:50m TopoJSON that ships with plotly.js.

    npm pack plotly.js@3.1.0 && tar xzf plotly.js-3.1.0.tgz package/dist/topojson/world_50m.json
    python extract_borders.py package/dist/topojson/world_50m.json > borders.geojson

Keeps the country outlines of the eastern Mediterranean inside BOX as line strings, so the event
map draws them with no tile server, CDN or geo library.
"""

from __future__ import annotations

import json
import sys

BOX = (24.0, 46.0, 29.0, 43.5)  # west, east, south, north
NAMES = {"SYR": "Syria", "TUR": "Turkey", "LBN": "Lebanon", "ISR": "Israel", "PSX": "Palestine",
         "JOR": "Jordan", "IRQ": "Iraq", "IRN": "Iran", "GRC": "Greece", "BGR": "Bulgaria", "CYP": "Cyprus",
         "CYN": "Northern Cyprus", "ARM": "Armenia", "GEO": "Georgia", "AZE": "Azerbaijan", "EGY": "Egypt",
         "SAU": "Saudi Arabia"}


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((round(x * sx + tx, 3), round(y * sy + ty, 3)))
        arcs.append(points)
    return arcs


def ring(arcs, indices):
    points = []
    for index in indices:
        arc = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
        points.extend(arc if not points else arc[1:])
    return points


def inside(point) -> bool:
    west, east, south, north = BOX
    return west <= point[0] <= east and south <= point[1] <= north


def clipped(points):
    """Pieces of a line that lie inside BOX."""
    pieces, current = [], []
    for point in points:
        if inside(point):
            current.append(point)
        elif current:
            pieces.append(current)
            current = []
    if current:
        pieces.append(current)
    return [p for p in pieces if len(p) > 1]


def main(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        topology = json.load(handle)
    arcs = decode_arcs(topology)
    features = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        if geometry.get("id") not in NAMES:
            continue
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        lines = [piece for polygon in polygons for rings in polygon for piece in clipped(ring(arcs, rings))]
        if lines:
            features.append({"type": "Feature", "properties": {"iso3": geometry["id"], "name": NAMES[geometry["id"]],
                                                               "label": geometry.get("properties", {}).get("ct")},
                             "geometry": {"type": "MultiLineString", "coordinates": lines}})
    json.dump({"type": "FeatureCollection", "features": features}, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1])
