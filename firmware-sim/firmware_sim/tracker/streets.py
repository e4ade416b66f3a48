"""A district's streets as a square grid of crossings, and the paths a rider takes along them.

Blocks in a Chinese city district are a few hundred metres on a side; a regular grid is enough to make rides follow
streets (straight legs, right-angle turns, a crossing every block where the rider may have to stop) without shipping
map data. A path turns at most twice, as a person who knows the district rides: along one street, across, and along.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from firmware_sim.tracker.geo import LocalFrame, Point

Crossing = tuple[int, int]  # (column, row) of the grid; (0, 0) is the south-west corner


@dataclass(frozen=True, slots=True)
class StreetGrid:
    """`size` x `size` crossings `block_m` apart, centred on the frame's origin."""

    frame: LocalFrame = field(default_factory=LocalFrame)
    block_m: float = 250.0
    size: int = 17  # 16 blocks: a district of 4 km x 4 km

    def __post_init__(self) -> None:
        if self.size < 2 or self.block_m <= 0:
            raise ValueError("a street grid needs at least 2 x 2 crossings and a positive block length")

    @property
    def _half_span(self) -> float:
        return (self.size - 1) * self.block_m / 2

    def point(self, crossing: Crossing) -> Point:
        return (crossing[0] * self.block_m - self._half_span, crossing[1] * self.block_m - self._half_span)

    def nearest(self, point: Point) -> Crossing:
        def index(value: float) -> int:
            return min(self.size - 1, max(0, round((value + self._half_span) / self.block_m)))

        return index(point[0]), index(point[1])

    def random_crossing(self, rng: random.Random) -> Crossing:
        return rng.randrange(self.size), rng.randrange(self.size)

    def crossing_at_least(self, start: Crossing, blocks: int, rng: random.Random) -> Crossing:
        """A random crossing at least `blocks` blocks (along the streets) from `start`, or the farthest corner."""
        far = [(i, j) for i in range(self.size) for j in range(self.size)
               if abs(i - start[0]) + abs(j - start[1]) >= blocks]
        if far:
            return rng.choice(far)
        return (0 if start[0] * 2 >= self.size else self.size - 1, 0 if start[1] * 2 >= self.size else self.size - 1)

    def path(self, start: Crossing, end: Crossing, rng: random.Random) -> list[Crossing]:
        """Every crossing passed from `start` to `end` (both included), along the streets with at most two turns."""
        di, dj = end[0] - start[0], end[1] - start[1]
        first_x = rng.random() < 0.5
        # Two turns: ride part of the first direction, all of the other, then the rest of the first.
        split = rng.randint(0, abs(di) if first_x else abs(dj)) if di and dj and rng.random() < 0.4 else None
        x_step, y_step = ((1 if di > 0 else -1), 0), (0, (1 if dj > 0 else -1))
        x_moves, y_moves = [x_step] * abs(di), [y_step] * abs(dj)
        if first_x:
            head, rest = (x_moves, y_moves)
        else:
            head, rest = (y_moves, x_moves)
        moves = head + rest if split is None else head[:split] + rest + head[split:]
        crossings = [start]
        for step in moves:
            last = crossings[-1]
            crossings.append((last[0] + step[0], last[1] + step[1]))
        return crossings
