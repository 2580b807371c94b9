"""The Sun seen from orbit: hidden behind the Earth on the night side (core/sun.py)."""

import numpy as np


def test_sun_hidden_by_earth_on_the_night_side_only():
    """A satellite 500 km up on the night side has the Sun behind the Earth (its station may lie
    within a Sun-avoidance cone of that hidden Sun); on the day side, or with the Sun beside
    the Earth's limb as seen from orbit, the Sun is visible."""
    from qsat_pat.core.sun import AU_M, EARTH_MEAN_RADIUS_M, sun_hidden_by_earth

    sun = np.array([AU_M, 0.0, 0.0])
    r = EARTH_MEAN_RADIUS_M + 500e3
    assert sun_hidden_by_earth([-r, 0.0, 0.0], sun)  # midnight
    assert not sun_hidden_by_earth([r, 0.0, 0.0], sun)  # noon
    assert not sun_hidden_by_earth([0.0, r, 0.0], sun)  # terminator: the Sun beside the Earth
    # the shadow cylinder's edge (the Sun ~parallel at 1 AU): just inside / just outside
    assert sun_hidden_by_earth([-r, EARTH_MEAN_RADIUS_M - 1e3, 0.0], sun)
    assert not sun_hidden_by_earth([-r, EARTH_MEAN_RADIUS_M + 1e3, 0.0], sun)
