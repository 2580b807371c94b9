"""The terminal's decision objects (core/terminal) without ROS: the decisions issue 13 made once.

Each object is what a node and the in-process simulation both hold; these tests pin the
behaviours the two used to differ on (../shared/design/one-terminal.md's table).
"""

from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest

from qsat_pat.core.control import FsmOffload, OffloadConfig
from qsat_pat.core.pat import PatState
from qsat_pat.core.terminal import wire
from qsat_pat.core.terminal.coarse_offset import OFFLOAD_MAX_DT_S, OffloadIntegrator
from qsat_pat.core.terminal.los_feed import LosPredictor, TrackPredictorConfig
from qsat_pat.core.terminal.parts import PARTS
from qsat_pat.core.terminal.pat_inputs import PatManager, PatManagerConfig, coarse_error_rad, time_to_aos_s

T0_NS = 1_774_043_772_000_000_000


@pytest.mark.ros
@pytest.mark.parametrize("exe", sorted(PARTS))
def test_each_node_holds_the_object_the_simulation_holds(exe):
    from qsat_pat.deployments import EXECUTABLES

    node_class = importlib.import_module(EXECUTABLES[exe]).NODE_CLASS
    assert (node_class.config_class, node_class.part_class) == PARTS[exe]


def test_time_to_aos_leads_the_pass_from_the_plan():
    """Difference 3: the PAT machine's SLEW_TO_AOS lead needs the time to AOS, from the plan."""
    assert time_to_aos_s(100.0, True, None, None) == 0.0
    assert time_to_aos_s(100.0, False, None, None) == math.inf
    assert time_to_aos_s(100.0, False, 130.0, 500.0) == 30.0
    assert time_to_aos_s(130.02, False, 130.0, 500.0) == 0.0  # the plan's AOS a few ms before the mask says so
    assert time_to_aos_s(501.0, False, 130.0, 500.0) == math.inf
    assert time_to_aos_s(100.0, False, 130.0, None) == 30.0  # the satellite's plan: AOS only


def _eph(stamp_ns: int, visible: bool) -> wire.EphemerisState:
    return wire.EphemerisState(stamp_ns=stamp_ns, az_rad=1.0, el_rad=0.5, el_refracted_rad=0.5, visible=visible,
                               sun_separation_rad=2.0)


def test_pat_manager_slews_before_aos_with_a_pass_plan_and_waits_without():
    for plan in (True, False):
        pm = PatManager(PatManagerConfig(), 0)
        now = T0_NS
        pm.on_ephemeris(_eph(now, visible=False), now)
        if plan:
            pm.on_pass_plan(json.dumps({"pass": {"aos_unix_s": now * 1e-9 + 30.0, "los_unix_s": now * 1e-9 + 400.0}}),
                            now)
        pm.on_timer("control", now)
        assert pm.machine.state == (PatState.SLEW_TO_AOS if plan else PatState.IDLE)


def test_pat_manager_refuses_a_bad_pass_plan():
    from qsat_pat.core.errors import Rejected

    pm = PatManager(PatManagerConfig(), 0)
    for text in ("not json", json.dumps({"pass": {}}), json.dumps({"pass": {"aos_unix_s": 10, "los_unix_s": 5}})):
        with pytest.raises(Rejected, match="pass_plan"):
            pm.on_pass_plan(text, T0_NS)


def test_coarse_error_goes_through_the_camera_matrix():
    """Difference 5: the coarse error is the angle through the 2x2 pixel -> angle matrix."""
    c, s = math.cos(0.3), math.sin(0.3)
    m = (np.array([[c, -s], [s, c]]) @ np.diag([8e-6, 12e-6])).reshape(-1)
    err = coarse_error_rad(110.0, 90.0, m, (100.0, 100.0))
    assert err == pytest.approx(math.hypot(10 * 8e-6, -10 * 12e-6))
    assert err != pytest.approx(10e-6 * math.hypot(10, 10), rel=1e-3)  # not a scalar scale


def test_offload_integrator_clips_the_step_freezes_and_resets():
    """Difference 8: one integrator for the mount and the body, dt clipped, explicit freeze/reset."""
    off = OffloadIntegrator(FsmOffload(OffloadConfig(continuous_gain_per_s=0.5, gain_per_s=0.0,
                                                     max_offload_rate_radps=1.0)), limit_rad=1e-3)
    assert list(off.step(0.0, np.array([1e-4, 0.0]))) == [0.0, 0.0]  # first reading: no interval yet
    b1 = off.step(10.0, np.array([1e-4, 0.0])).copy()  # a 10 s gap integrates only OFFLOAD_MAX_DT_S
    mean = off.offload.mean_rad[0]
    assert b1[0] == pytest.approx(0.5 * mean * OFFLOAD_MAX_DT_S)
    off.freeze()
    assert list(off.step(20.0, np.array([1e-4, 0.0]))) == list(b1)  # frozen: the next reading starts afresh
    for k in range(1, 2000):
        off.step(20.0 + 0.1 * k, np.array([1e-1, 0.0]))
    assert off.bias_rad[0] == pytest.approx(1e-3)  # limited
    off.reset()
    assert list(off.bias_rad) == [0.0, 0.0] and list(off.offload.mean_rad) == [0.0, 0.0]


def _centroid(t_ns: int, x: float, cov=(0.01, 0.0, 0.0, 0.01)) -> wire.BeaconCentroid:
    return wire.BeaconCentroid(stamp_ns=t_ns, camera_id="c", valid=True, x_px=x, y_px=64.0, covariance_px2=cov)


def test_los_predictor_feeds_at_its_rate_with_the_floor_in_angle():
    """Difference 9: feed rate limit, floor added in angle after composition, a fallback covariance."""
    cfg = TrackPredictorConfig(model="cv", use_actuator=False, boresight_x_px=64.0, boresight_y_px=64.0,
                               scale_x_radppx=2e-6, scale_y_radppx=1e-6, rotation_rad=0.7,
                               measurement_floor_rad=3e-6, feed_rate_hz=50.0)
    lp = LosPredictor(cfg)
    los, cov = lp.line_of_sight(_centroid(T0_NS, 70.0), T0_NS * 1e-9)
    m = cfg.geometry().pixel_to_angle()
    np.testing.assert_allclose(cov, m @ (np.eye(2) * 0.01) @ m.T + np.eye(2) * 9e-12)
    _, bad = lp.line_of_sight(_centroid(T0_NS, 70.0, cov=(math.nan,) * 4), T0_NS * 1e-9)
    np.testing.assert_allclose(bad, m @ (np.eye(2) * 0.25) @ m.T + np.eye(2) * 9e-12)
    for k in range(100):  # 1 kHz frames for 0.1 s: fed every 20 ms
        lp.on_centroid(_centroid(T0_NS + k * 1_000_000, 70.0), T0_NS + k * 1_000_000)
    assert lp.counters["not_fed_rate"] == 95  # 5 of 100 fed (0, 20, 40, 60, 80 ms)


def test_mount_stage_answers_each_simulated_encoder_reading_and_reports_a_stale_one():
    """With the simulator's mount (driver "sim") each encoder reading is answered by one command
    at its stamp; a reading older than the stale time makes mount_state a fault."""
    from qsat_pat.core.errors import Rejected
    from qsat_pat.core.terminal.coarse_offset import GimbalControllerConfig, MountStage

    stage = MountStage(GimbalControllerConfig(driver="sim", control_rate_hz=100.0, sun_source="fixed"))
    assert stage.timer_periods() == {} and [p.topic for p in stage.inputs()][-1] == "mount_encoder"
    eph = wire.EphemerisState(stamp_ns=T0_NS, az_rad=1.0, el_rad=0.8, el_refracted_rad=0.8, visible=True,
                              sun_separation_rad=2.0)
    stage.on_ephemeris(eph, T0_NS)
    enc = wire.ActuatorState(stamp_ns=T0_NS + 10_000_000, stage=1, axis1_rad=1.0, axis2_rad=0.8)
    out = dict(stage.on_encoder(enc, T0_NS + 10_000_000))
    assert out["mount_command"].mode == 0 and not out["mount_state"].fault
    assert abs(out["mount_command"].stamp_ns - enc.stamp_ns) < 1000 and "driver" in out  # float seconds at 1.8e9 s
    late = dict(stage.control((T0_NS + 10_000_000) * 1e-9 + 5.0, None))  # no reading for 5 s
    assert late["mount_state"].fault and "old" in late["mount_state"].fault_reason
    with pytest.raises(Rejected, match="non-finite"):
        stage.on_encoder(wire.ActuatorState(stamp_ns=T0_NS, axis1_rad=math.nan), T0_NS)


#: What a terminal node may define beyond its decision object: plumbing and its hardware.
NODE_PLUMBING = {"make_part", "qos_for", "setup_device", "teardown_device", "on_device_output", "tick",
                 "diagnostic_values", "__getattr__", "on_capture_dark", "on_image_cdr", "on_image", "_process"}


@pytest.mark.ros
@pytest.mark.parametrize("exe", sorted(PARTS))
def test_a_terminal_node_holds_no_decision_of_its_own(exe):
    """Each terminal node is a TerminalNode: its own methods are plumbing (ports come from the
    decision object; conversion, drivers, the dark-capture service), its properties read the object."""
    import inspect

    from qsat_pat.deployments import EXECUTABLES
    from qsat_pat.nodes.terminal_node import TerminalNode

    node_class = importlib.import_module(EXECUTABLES[exe]).NODE_CLASS
    assert issubclass(node_class, TerminalNode)
    own = {n for n, v in vars(node_class).items() if inspect.isfunction(v)}
    assert own <= NODE_PLUMBING, f"{exe} defines {sorted(own - NODE_PLUMBING)}: decisions belong in core/terminal/"
    source = inspect.getsource(importlib.import_module(EXECUTABLES[exe]))
    assert len(source.splitlines()) < 160, f"{exe}'s module is no longer thin"
