"""The districts' outlines: where on the ground each of Xining's districts and counties lies,
from the GeoJSON the package ships (``semon/geodata/xining-districts.json``, its source and
licence in the README beside it). Read by the demo register and the simulated city (a unit is
placed inside its own district) and served to the console's map.

Coordinates are degrees, WGS84 (the file's CGCS2000 agrees to well under a metre), longitude
first as in GeoJSON; functions that answer a point for the register answer
``(latitude, longitude)``, the register's order."""

from __future__ import annotations

import functools
import itertools
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import orjson

OUTLINES_FILE = Path(__file__).with_name("geodata") / "xining-districts.json"
KM_PER_DEGREE_LAT = 111.32  # on the WGS84 ellipsoid, near enough at 36.6° N for a demo's spread

Ring = tuple[tuple[float, float], ...]  # (longitude, latitude), closed: the first point repeated last


BANDS = 32  # horizontal bands of the point-in-polygon index


@dataclass(frozen=True, slots=True)
class Outline:
    """One district: ``code`` (GB/T 2260), ``name``, ``seat`` its administrative centre
    ``(longitude, latitude)``, ``polygons``: each an outer ring then its holes."""

    code: str
    name: str
    seat: tuple[float, float]
    polygons: tuple[tuple[Ring, ...], ...]
    # The rings' edges by horizontal band, each (y1, y2, x1, dx/dy): a point is tested against
    # the few edges of its band only (the demo places tens of thousands of units).
    _south: float = field(init=False, repr=False, compare=False)
    _band_height: float = field(init=False, repr=False, compare=False)
    _bands: tuple[tuple[tuple[float, float, float, float], ...], ...] = field(init=False, repr=False, compare=False)
    _area_km2: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        edges = [(y1, y2, x1, (x2 - x1) / (y2 - y1))
                 for polygon in self.polygons for ring in polygon
                 for (x1, y1), (x2, y2) in itertools.pairwise(ring) if y1 != y2]
        south = min((min(e[0], e[1]) for e in edges), default=0.0)
        north = max((max(e[0], e[1]) for e in edges), default=0.0)
        height = (north - south) / BANDS or 1.0
        bands: list[list[tuple[float, float, float, float]]] = [[] for _ in range(BANDS)]
        for edge in edges:
            low, high = sorted(edge[:2])
            for band in range(max(0, int((low - south) / height)), min(BANDS - 1, int((high - south) / height)) + 1):
                bands[band].append(edge)
        object.__setattr__(self, "_south", south)
        object.__setattr__(self, "_band_height", height)
        object.__setattr__(self, "_bands", tuple(tuple(b) for b in bands))
        km2 = KM_PER_DEGREE_LAT ** 2 * math.cos(math.radians(self.seat[1]))
        area = sum((-1 if index else 1) * abs(ring_area(ring)) * km2
                   for polygon in self.polygons for index, ring in enumerate(polygon))
        object.__setattr__(self, "_area_km2", area)

    def contains(self, longitude: float, latitude: float) -> bool:
        """Whether the point lies inside (even-odd over every ring: a hole's point is outside)."""
        band = int((latitude - self._south) / self._band_height) if latitude >= self._south else -1
        if not 0 <= band < BANDS:
            return False
        inside = False
        for y1, y2, x1, slope in self._bands[band]:
            if (y1 > latitude) != (y2 > latitude) and longitude < x1 + slope * (latitude - y1):
                inside = not inside
        return inside

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in degrees."""
        points = [p for polygon in self.polygons for p in polygon[0]]
        return (min(p[0] for p in points), min(p[1] for p in points),
                max(p[0] for p in points), max(p[1] for p in points))

    @property
    def area_km2(self) -> float:
        """The area on an equirectangular projection at the seat's latitude (a demo's scale, ±1 %)."""
        return self._area_km2

def ring_area(ring: Ring) -> float:
    """The signed area in square degrees (shoelace; positive counter-clockwise)."""
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in itertools.pairwise(ring)) / 2


def parse_outlines(data: bytes | str) -> dict[str, Outline]:
    """The outlines of a GeoJSON FeatureCollection of ``Polygon``/``MultiPolygon`` features with
    ``properties.code``, ``name`` and ``seat``, by code. ValueError for anything else."""
    try:
        collection = orjson.loads(data)
        outlines: dict[str, Outline] = {}
        for feature in collection["features"]:
            props, geometry = feature["properties"], feature["geometry"]
            parts = {"Polygon": [geometry["coordinates"]],
                     "MultiPolygon": geometry["coordinates"]}[geometry["type"]]
            polygons = tuple(tuple(tuple((float(x), float(y)) for x, y in ring) for ring in part) for part in parts)
            seat = (float(props["seat"][0]), float(props["seat"][1]))
            outlines[str(props["code"])] = Outline(str(props["code"]), str(props["name"]), seat, polygons)
    except (KeyError, TypeError, IndexError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"not the districts' outlines: {type(exc).__name__}: {exc}") from exc
    return outlines


@functools.cache
def xining_outlines() -> dict[str, Outline]:
    """The shipped outlines of Xining's seven county-level divisions, by code (read once)."""
    return parse_outlines(OUTLINES_FILE.read_bytes())


def spread_km(outline: Outline) -> float:
    """How far from its seat a district's units are typically placed (the standard deviation of
    the demo's placement, km): a fifth of the side of a square of the district's area, between 1
    and 3 km, so the city's units cluster in its built-up core and a county's in its county town
    (the demo's own choice; no source gives units' positions)."""
    return min(3.0, max(1.0, 0.2 * math.sqrt(outline.area_km2)))


def place(outline: Outline, rng: random.Random, *, centre: tuple[float, float] | None = None,
          spread: float | None = None, tries: int = 200) -> tuple[float, float]:
    """A plausible ``(latitude, longitude)`` of a unit in ``outline``, rounded to 6 decimals
    (0.1 m): normally distributed around ``centre`` (``(latitude, longitude)``; the outline's
    seat by default) with a standard deviation of ``spread`` km (``spread_km`` by default), each
    coordinate kept within 3 deviations, redrawn until inside; uniform over the district's box
    (still inside) if ``tries`` draws all fell outside, and the centre itself as the last resort.
    Deterministic for a seeded ``rng``."""
    lat0, lon0 = centre if centre is not None else (outline.seat[1], outline.seat[0])
    sigma_lat = (spread if spread is not None else spread_km(outline)) / KM_PER_DEGREE_LAT
    sigma_lon = sigma_lat / math.cos(math.radians(lat0))

    def draw(mean: float, sigma: float) -> float:
        return mean + max(-3.0, min(3.0, rng.gauss(0.0, 1.0))) * sigma

    for _ in range(tries):
        lon, lat = draw(lon0, sigma_lon), draw(lat0, sigma_lat)
        if outline.contains(lon, lat):
            return round(lat, 6), round(lon, 6)
    west, south, east, north = outline.bbox
    for _ in range(tries):
        lon, lat = rng.uniform(west, east), rng.uniform(south, north)
        if outline.contains(lon, lat):
            return round(lat, 6), round(lon, 6)
    return round(lat0, 6), round(lon0, 6)


def place_in_district(code: str, seed: str, *, centre: tuple[float, float] | None = None,
                      spread: float | None = None) -> tuple[float, float] | None:
    """``place`` in the shipped outline of district ``code`` with a generator of its own seeded
    by ``seed`` (so a unit's position never shifts the draws of anything else); None for a
    code without an outline."""
    outline = xining_outlines().get(code)
    return None if outline is None else place(outline, random.Random(seed), centre=centre, spread=spread)


def district_at(outlines: dict[str, Outline], latitude: float, longitude: float) -> str | None:
    """The code of the district the point lies in, or None outside them all."""
    return next((code for code, o in outlines.items() if o.contains(longitude, latitude)), None)
