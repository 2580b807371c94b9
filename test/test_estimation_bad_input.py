"""Bad input to the estimator: clear errors, tracker left unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from qsat_pat.analysis.tracking import replay, tune
from qsat_pat.cli import main
from qsat_pat.core.errors import ConfigError, EstimationError
from qsat_pat.core.estimation import (
    LosTracker,
    NoiseLearner,
    TrackerConfig,
    process_noise,
    transition_matrix,
)


def _tracking():
    trk = LosTracker(TrackerConfig(model="cv", measurement_std_rad=1.0, q_cv=1.0, init_rate_std_radps=10.0))
    for k in range(20):
        trk.step(0.05 * k, (k * 0.5, -k * 0.25))
    return trk


@pytest.mark.parametrize("stamp", [float("nan"), float("inf"), 0.5])
def test_nan_or_decreasing_stamp_raises_and_leaves_the_tracker_unchanged(stamp):
    trk = _tracking()
    x0, p0 = trk.state, trk.covariance
    with pytest.raises(EstimationError, match="stamp"):
        trk.step(stamp, (10.0, -5.0))
    np.testing.assert_array_equal(trk.state, x0)
    np.testing.assert_array_equal(trk.covariance, p0)
    trk.step(1.0, (10.0, -5.0))  # keeps working


def test_equal_stamps_are_allowed():
    trk = _tracking()
    trk.step(0.05 * 19, (9.5, -4.75))
    assert trk.has_track


@pytest.mark.parametrize("z", [(np.nan, 1.0), (1.0, 2.0, 3.0), "ab"])
def test_bad_measurement_raises(z):
    trk = _tracking()
    with pytest.raises(EstimationError):
        trk.step(2.0, z)


@pytest.mark.parametrize("r", [np.eye(2) * -1, [[1.0, 0.5], [0.0, 1.0]], [[np.nan, 0], [0, 1]]])
def test_bad_measurement_covariance_raises(r):
    with pytest.raises(EstimationError, match="covariance"):
        _tracking().step(2.0, (1.0, 1.0), r)


def test_far_outside_the_gate_is_a_counted_rejection_not_an_error():
    trk = _tracking()
    res = trk.step(1.0, (1e5, 1e5))
    assert not res.accepted and trk.n_rejected == 1


def test_bad_config_values():
    with pytest.raises(ConfigError, match="model"):
        TrackerConfig(model="kalman")
    with pytest.raises(ConfigError, match="measurement_std_rad"):
        TrackerConfig(measurement_std_rad=0.0)
    with pytest.raises(ConfigError, match="q_cv"):
        TrackerConfig(q_cv=float("nan"))
    with pytest.raises(ConfigError, match="gate_probability"):
        TrackerConfig(gate_probability=1.5)


def test_bad_matrix_arguments():
    with pytest.raises(EstimationError, match="order"):
        transition_matrix(5, 0.1)
    with pytest.raises(EstimationError, match="dt_s"):
        transition_matrix(2, -0.1)
    with pytest.raises(EstimationError, match="kind"):
        process_noise(2, 0.1, 1.0, "pink")
    with pytest.raises(EstimationError, match="q ="):
        process_noise(2, 0.1, -1.0)


def test_predict_without_track_or_into_the_past():
    trk = LosTracker(TrackerConfig())
    with pytest.raises(EstimationError, match="no track"):
        trk.predict_to(1.0)
    trk = _tracking()
    with pytest.raises(EstimationError, match="prediction time"):
        trk.predict_to(0.1)


def test_replay_reports_the_bad_row():
    t = np.array([0.0, 0.1, 0.05, 0.2])
    z = np.zeros((4, 2))
    with pytest.raises(EstimationError, match="row 3"):
        replay(t, z, TrackerConfig(model="cv"))
    with pytest.raises(EstimationError, match="shape"):
        replay(t, np.zeros((3, 2)), TrackerConfig(model="cv"))


def test_tune_and_learner_bad_arguments():
    with pytest.raises(EstimationError, match="grid"):
        tune(np.arange(5.0), np.zeros((5, 2)), TrackerConfig(model="cv"), [], [1.0])
    with pytest.raises(EstimationError, match="NoiseLearner"):
        NoiseLearner(floor_std=0.0)


def _write(tmp_path, text, name="log.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_cli_bad_logs_exit_2_with_one_line(tmp_path, capsys):
    cases = {
        "missing.csv": None,
        "nocols.csv": "a,b\n1,2\n",
        "text.csv": "measured_X,measured_Y,Time\n1,2,0.1\nx,2,0.2\n",
        "half.csv": "measured_X,measured_Y,Time\n1,2,0.1\n,2,0.2\n",
        "nan_time.csv": "measured_X,measured_Y,Time\n1,2,0.1\n1,2,nan\n",
        "backwards.csv": "measured_X,measured_Y,Time\n1,2,0.1\n1,2,0.3\n1,2,0.2\n",
        "empty.csv": "measured_X,measured_Y,Time\n",
    }
    for name, text in cases.items():
        path = str(tmp_path / name) if text is None else _write(tmp_path, text, name)
        rc = main(["track", "replay", path, "--model", "cv", "--out", str(tmp_path / "o.csv")])
        err = capsys.readouterr().err
        assert rc == 2, name
        assert err.startswith("qsat-pat track: error:") and err.count("\n") == 1, (name, err)
    rc = main(["track", "tune", _write(tmp_path, "measured_X,measured_Y,Time\n1,2,0.1\n2,3,0.2\n3,4,0.3\n"),
               "--q-grid", "a,b"])
    assert rc == 2
    assert "grid" in capsys.readouterr().err
