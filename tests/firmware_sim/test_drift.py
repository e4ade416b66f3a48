"""Parked GPS drift: a few metres of correlated wander, rare multipath jumps, never a consistent displacement."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest
from firmware_sim.tracker.drift import PARKED, DriftModel, DriftSample, ParkedDrift

DAY_AT_10_S = 8640


def a_day(seed: int, model: DriftModel = PARKED) -> list[DriftSample]:
    rng = random.Random(seed)
    drift = ParkedDrift(rng, model)
    return [drift.step(10.0, rng) for _ in range(DAY_AT_10_S)]


def autocorrelation(values: list[float], lag: int) -> float:
    mean = statistics.fmean(values)
    centred = [v - mean for v in values]
    variance = sum(v * v for v in centred)
    return sum(a * b for a, b in zip(centred, centred[lag:], strict=False)) / variance


@pytest.mark.parametrize("seed", range(5))
def test_wander_is_a_few_metres_and_bounded(seed: int) -> None:
    samples = a_day(seed)
    wander = [s for s in samples if not s.jumping]
    xs = [s.offset[0] for s in wander]
    ys = [s.offset[1] for s in wander]
    assert 4.0 < statistics.pstdev(xs) < 6.0 and 4.0 < statistics.pstdev(ys) < 6.0  # sigma 5 m per axis
    assert max(math.hypot(*s.offset) for s in wander) < 6 * 5.0
    for sample in samples:
        assert 0 <= sample.speed_kmh <= 4 and 0 <= sample.course < 360
        assert 3 <= sample.satellites <= 12


@pytest.mark.parametrize("seed", range(5))
def test_no_net_displacement_over_a_day(seed: int) -> None:
    samples = a_day(seed)
    xs = [s.offset[0] for s in samples]
    ys = [s.offset[1] for s in samples]
    # The mean of a day of fixes is the parking spot within a metre or so (jumps in random directions included),
    # and the first half of the day does not differ from the second: the wander does not walk away.
    assert math.hypot(statistics.fmean(xs), statistics.fmean(ys)) < 1.5
    half = len(samples) // 2
    shift = math.hypot(statistics.fmean(xs[half:]) - statistics.fmean(xs[:half]),
                       statistics.fmean(ys[half:]) - statistics.fmean(ys[:half]))
    assert shift < 2.0
    # No stretch of ten minutes strays more than the wander's spread from the spot on average.
    window = 60
    for start in range(0, len(samples) - window, window):
        mx = statistics.fmean(xs[start:start + window])
        my = statistics.fmean(ys[start:start + window])
        assert math.hypot(mx, my) < 25.0


def test_the_wander_is_correlated_over_tens_of_seconds_only() -> None:
    xs = [s.offset[0] for s in a_day(11, DriftModel(jumps_per_hour=0.0))]
    assert autocorrelation(xs, 1) == pytest.approx(math.exp(-10 / 30), abs=0.05)  # 10 s apart: much alike
    assert abs(autocorrelation(xs, 30)) < 0.1  # five minutes apart: unrelated


def test_multipath_jumps_are_rare_far_and_poor_in_satellites() -> None:
    jumps = 0
    for seed in range(5):
        samples = a_day(seed)
        for previous, sample in itertools.pairwise(samples):
            if sample.jumping:
                assert 30.0 - 4 < math.hypot(*sample.offset) < 80.0 + 4
                assert 3 <= sample.satellites <= 5
                jumps += not previous.jumping
    per_hour = jumps / (5 * 24)
    assert 1.5 < per_hour < 4.5  # the model's 3 an hour


def test_speeds_are_small_but_not_all_zero_and_courses_random() -> None:
    samples = a_day(2)
    speeds = [s.speed_kmh for s in samples]
    assert 0.2 < sum(1 for v in speeds if v > 0) / len(speeds) < 0.9
    assert max(speeds) == 4
    assert len({s.course // 30 for s in samples}) == 12  # every twelfth of the compass
