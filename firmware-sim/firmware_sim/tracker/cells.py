"""The serving GSM cell at a position: what LBS packets carry, and location packets alongside the fix.

Cells are squares of `CELL_M` metres of one operator (China Mobile, MCC 460 MNC 0), grouped into location areas of
`AREA_CELLS` x `AREA_CELLS` cells, so a bike that moves changes cell now and then and area rarely, as in a city.
"""

from __future__ import annotations

import math

from drivers.gt06.builder import Cell
from firmware_sim.tracker.geo import Point

MCC_CHINA = 460
MNC_CHINA_MOBILE = 0
CELL_M = 500.0
AREA_CELLS = 4
FIRST_LAC = 0x2866
OFFSET = 64  # keeps indices positive across a district centred on the origin


def cell_at(point: Point) -> Cell:
    column = math.floor(point[0] / CELL_M) + OFFSET
    row = math.floor(point[1] / CELL_M) + OFFSET
    lac = FIRST_LAC + (column // AREA_CELLS) * 64 + row // AREA_CELLS
    cid = 0x0E00 + (column * 128 + row) % 0xF000
    return Cell(MCC_CHINA, MNC_CHINA_MOBILE, lac & 0xFFFF, cid)
