"""Coordinates: WGS 84 degrees where frames need them, metres on a local plane where motion is computed.

A district is a few kilometres across, so an equirectangular projection around its centre is accurate to well under
a metre there, and it keeps the motion models in plain metres (east = x, north = y). Distances between reported
positions use the haversine formula, as a server would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)

Point = tuple[float, float]  # metres east, metres north of a frame's origin


@dataclass(frozen=True, slots=True)
class LatLon:
    lat: float
    lon: float


# Futian district, Shenzhen: the default centre of the simulated streets.
FUTIAN = LatLon(22.5431, 114.0579)


def distance_m(a: LatLon, b: LatLon) -> float:
    """Great-circle distance in metres (haversine)."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi = phi2 - phi1
    dlmb = math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def course_of(dx: float, dy: float) -> int:
    """The GPS course (whole degrees clockwise from north, 0..359) of a move `dx` m east and `dy` m north."""
    return round(math.degrees(math.atan2(dx, dy))) % 360


def plane_distance(a: Point, b: Point) -> float:
    return math.hypot(b[0] - a[0], b[1] - a[1])


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """A local east/north plane in metres around `origin`."""

    origin: LatLon = FUTIAN

    @property
    def _metres_per_degree_lat(self) -> float:
        return math.pi * EARTH_RADIUS_M / 180

    @property
    def _metres_per_degree_lon(self) -> float:
        return self._metres_per_degree_lat * math.cos(math.radians(self.origin.lat))

    def to_latlon(self, point: Point) -> LatLon:
        return LatLon(self.origin.lat + point[1] / self._metres_per_degree_lat,
                      self.origin.lon + point[0] / self._metres_per_degree_lon)

    def to_point(self, position: LatLon) -> Point:
        return ((position.lon - self.origin.lon) * self._metres_per_degree_lon,
                (position.lat - self.origin.lat) * self._metres_per_degree_lat)
