"""OGS mount and FSM plants (qsat_pat/sim/plants.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qsat_pat.core.control import FsmConfig, FsmModel
from qsat_pat.core.errors import ConfigError, SimulationError
from qsat_pat.sim.plants import FsmPlant, MountConfig, MountPlant

ONE_URAD = 1e-6


def _ramp_errors(use_ff: bool) -> np.ndarray:
    m = MountPlant(MountConfig(mode_coupling=0.0), position_rad=(1.0, 0.5))
    rate, dt = 13.7e-3, 1e-3
    errs = []
    for k in range(4000):
        t = (k + 1) * dt
        ff = (rate, 0.5 * rate) if use_ff else (0.0, 0.0)
        st = m.step(dt, (1.0 + rate * t, 0.5 + 0.5 * rate * t), ff)
        errs.append(st.axis_rad - np.array([1.0 + rate * t, 0.5 + 0.5 * rate * t]))
    return np.array(errs)[2000:]


def test_mount_tracks_the_nanobob_ogs_slew_rate_with_feed_forward():
    """NanoBob §4.5: the OGS slews at up to 13.7 mrad/s; with rate feed-forward the lag vanishes."""
    rate, dt = 13.7e-3, 1e-3
    with_ff = _ramp_errors(True)
    # only the zero-order hold of the set-point remains (at most one step of motion), constant
    assert np.max(np.abs(with_ff[:, 0])) <= rate * dt * 1.01
    assert np.std(with_ff[:, 0]) < 1e-9
    # without feed-forward a type-1 servo lags by rate * Kd/Kp = rate * 2 zeta / w (0.8, 5 Hz)
    lag = -np.mean(_ramp_errors(False)[:, 0])
    assert lag == pytest.approx(rate * 2 * 0.8 / (2 * math.pi * 5.0) - rate * dt, rel=0.05)


def test_mount_respects_rate_and_acceleration_limits_on_a_large_slew():
    cfg = MountConfig(max_rate_radps=0.1, max_acc_radps2=0.2)
    m = MountPlant(cfg, position_rad=(0.0, 0.3))
    rates, dt = [], 1e-3
    for _ in range(8000):
        st = m.step(dt, (0.5, 0.3))
        rates.append(st.rate_radps[0])
    rates = np.array(rates)
    assert np.max(np.abs(rates)) <= 0.1 + 1e-9
    assert np.max(np.abs(np.diff(rates))) <= 0.2 * dt + 1e-12
    assert m.position_rad[0] == pytest.approx(0.5, abs=1e-5)
    assert m.at_limit is False


def test_mount_servo_bandwidth_sets_the_small_step_response():
    cfg = MountConfig(servo_bandwidth_hz=5.0, servo_damping=0.8, mode_coupling=0.0, max_acc_radps2=50.0)
    m = MountPlant(cfg, position_rad=(0.0, 0.5))
    dt, step = 1e-4, 1e-5
    pos = np.array([m.step(dt, (step, 0.5)).axis_rad[0] for _ in range(3000)])
    # a 2nd-order servo with the velocity loop Kd and position gain Kp/Kd: 63 % rise in ~ Kd/Kp
    tau = 2 * 0.8 / (2 * math.pi * 5.0)
    t63 = (np.argmax(pos >= 0.632 * step) + 1) * dt
    assert t63 == pytest.approx(tau, rel=0.35)
    assert pos[-1] == pytest.approx(step, rel=1e-3)


def test_structural_mode_rings_at_its_frequency_after_a_slew_stop():
    cfg = MountConfig(mode_frequency_hz=25.0, mode_damping=0.01, mode_coupling=0.05)
    m = MountPlant(cfg, position_rad=(0.0, 0.5))
    dt = 2e-4
    for _ in range(2000):
        m.step(dt, (0.02, 0.5))
    q = np.array([m.step(dt, (0.02, 0.5)).los_offset_rad[0] for _ in range(5000)])
    spec = np.abs(np.fft.rfft(q - q.mean()))
    f = np.fft.rfftfreq(q.size, dt)
    assert f[np.argmax(spec[1:]) + 1] == pytest.approx(25.0, abs=0.5)
    assert np.max(np.abs(q)) > 0.1 * ONE_URAD  # the excitation is visible


def test_fsm_plant_is_the_core_fsm_model_with_range_and_bandwidth():
    assert FsmPlant is FsmModel
    fsm = FsmPlant(FsmConfig(range_rad=250e-6, bandwidth_hz=580.0, damping=0.7))
    for _ in range(200):
        p = fsm.step((400e-6, -100e-6), 1e-4)
    assert p == pytest.approx((250e-6, -100e-6), abs=1e-9)
    assert fsm.at_limit


def test_bad_mount_input():
    with pytest.raises(ConfigError, match="inertia_kgm2"):
        MountConfig(inertia_kgm2=(1.0, 2.0, 3.0))
    m = MountPlant()
    with pytest.raises(SimulationError, match="dt_s"):
        m.step(-1.0, (0.0, 0.0))
    with pytest.raises(SimulationError, match="finite"):
        m.step(1e-3, (float("nan"), 0.0))


def test_mount_los_error_is_exact_and_keyhole_safe():
    from qsat_pat.sim.plants import mount_los_error_rad

    # small offsets: cross-elevation = d_az cos(el), elevation = d_el
    e = mount_los_error_rad(1.0 + 1e-4, 0.5 + 2e-5, 1.0, 0.5)
    assert e == pytest.approx((1e-4 * math.cos(0.5), 2e-5), abs=5e-9)  # + 2nd order (d_az^2 tan(el)/2)
    # near the zenith a large azimuth difference is a small angle (keyhole)
    e = mount_los_error_rad(0.0, math.radians(89.99), math.pi / 2, math.radians(89.99))
    assert np.hypot(*e) == pytest.approx(math.sqrt(2) * math.radians(0.01), rel=1e-3)
