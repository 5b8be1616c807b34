"""histogram.mean_us is hdrh's get_mean_value, exactly, without walking every empty bucket."""

from __future__ import annotations

import random

import pytest

from hmb_ops.loadtest import histogram as H


@pytest.mark.parametrize("n", [1, 7, 2000, 30000])
def test_mean_equals_hdrh_own_mean(n):
    rng = random.Random(n)
    values = [int(rng.lognormvariate(9, 1.5)) + 1 for _ in range(n)] + [H.HIGHEST_US - 5]
    hist = H.of(values)
    assert H.mean_us(hist) == hist.get_mean_value()
    assert H.latency_ms(hist)["mean"] == round(hist.get_mean_value() / 1000.0, 3)


def test_empty_histogram_mean_is_zero():
    assert H.mean_us(H.new()) == 0.0
