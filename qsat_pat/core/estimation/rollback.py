"""Blockage-onset rollback of :class:`~qsat_pat.core.estimation.tracker.LosTracker` (beyond seed 002).

Blockage-onset rollback (``rollback_frames``, ``rollback_nis_probability``): when the
detections stop, the last one or two applied measurements are taken back if one of them
had a suspect NIS (a spot partly covered by the cloud edge that ends the track), so the
coast does not start from a biased position and velocity.  :class:`OnsetRollback` keeps
what is needed to take the recent measurements back (:class:`RollbackPoint`) and decides
which; the tracker restores its state from it (``LosTracker._roll_back_onset``).

References
----------
seed 002 §III (the beacon blocked intermittently to mimic clouds) and eq. (7)-(9);
Bar-Shalom, Li and Kirubarajan (2001) §5.4 (the NIS and its chi-square test).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

__all__ = [
    "OnsetRollback",
    "RollbackPoint",
]


@dataclass(frozen=True)
class RollbackPoint:
    """What the tracker needs to take back one suspect applied measurement.

    Attributes
    ----------
    stamp_s : float
        Time of the suspect measurement's step [s].
    dt_s : float
        Length of that step [s].
    prior : object
        Copy of the estimator before that measurement was applied (after the step's predict).
    t_meas_s : float
        Time of the last applied measurement before it [s].
    last_post : numpy.ndarray or None
        Posterior position after that measurement, shape (2,).
    nis_mean, q_scale : float
        The adaptive Q's running NIS mean and scale before that measurement.
    """

    stamp_s: float
    dt_s: float
    prior: object
    t_meas_s: float
    last_post: np.ndarray | None
    nis_mean: float
    q_scale: float


class OnsetRollback:
    """Blockage-onset rollback: take back the last applied measurements if one was suspect.

    Called at the first step without a detection after applied ones.  If any of the
    last ``rollback_frames`` applied measurements was suspect, the filter is put back
    to its prior at the earliest suspect one (a copy kept at that update: no history is
    replayed), that step becomes a coasting step, and that measurement and the ones
    after it are dropped from the pass-model history; the caller then coasts on from
    there.  The result is the coast the filter would have made had those frames been
    missed.  A measurement is suspect when its NIS exceeds the chi-square (2 dof)
    quantile ``rollback_nis_probability`` (9.21 at 99 %, well inside the gate's 18.4 at
    99.99 %) times ``max(1, m / 2)``, ``m`` being the running NIS mean before it (the
    adaptive Q's, :class:`~qsat_pat.core.estimation.noise.AdaptiveQ`; ~2 on a steady track):
    while the model lags a manoeuvre or the noise is larger than stated, large innovations
    are ordinary and say nothing about one frame.

    Why: the obstruction that ends a track (a cloud edge, a dome slit, a branch) covers
    the beacon spot progressively, so the last frames before a blockage can see a
    partly covered spot whose centroid is pulled towards the uncovered part, as York's
    first detection after a blockage is sometimes spurious (their logs of seed 002
    §III, where the beacon is blocked to mimic clouds; cv_clean_04A row 583: the last
    detection 4.4 px behind the spot, NIS 14).  Accepted by the gate, such a frame
    shifts the position and, through the Kalman gain of the rates (seed 002 eq.
    (7)-(9)), the velocity the filter coasts on for seconds.  During a track nothing is
    taken back (the next detections correct a bad frame); at a blockage nothing will.
    A good frame after a suspect one is taken back too (the cover that biased the one
    usually biases the next; a lost good frame costs little).  Causal: only frames
    before the current step are used.  Cheap: the prior is copied only at a suspect
    update (~1 % of good frames).

    Parameters
    ----------
    frames : int
        ``rollback_frames``: applied measurements remembered (0 = off).
    nis_probability : float
        ``rollback_nis_probability``: chi-square (2 dof) probability of the suspect threshold.

    References
    ----------
    seed 002 §III (the beacon blocked intermittently to mimic clouds) and eq. (7)-(9);
    Bar-Shalom, Li and Kirubarajan (2001) §5.4 (the NIS and its chi-square test).
    """

    def __init__(self, frames: int, nis_probability: float) -> None:
        self.nis_threshold = float(chi2.ppf(nis_probability, 2))
        # one entry per recent applied measurement, None if its NIS was not suspect, else what
        # is needed to take it back
        self._recent: deque[RollbackPoint | None] = deque(maxlen=frames)

    @property
    def enabled(self) -> bool:
        """Rollback is on (``rollback_frames`` > 0)."""
        return bool(self._recent.maxlen)

    @property
    def pending(self) -> bool:
        """Applied measurements are remembered since the last :meth:`clear`."""
        return bool(self._recent)

    def clear(self) -> None:
        """Forget the remembered measurements."""
        self._recent.clear()

    def is_suspect(self, nis: float, nis_mean: float) -> bool:
        """NIS above the quantile, scaled by the running NIS mean / 2 while the model lags a
        manoeuvre (then large innovations are the lag, not a biased centroid)."""
        return nis > self.nis_threshold * max(1.0, nis_mean / 2.0)

    def record(self, point: RollbackPoint | None) -> None:
        """Remember one applied measurement: its :class:`RollbackPoint` if suspect, else None."""
        self._recent.append(point)

    def take_back(self) -> tuple[RollbackPoint, int] | None:
        """The earliest suspect remembered measurement and how many applied ones it takes back
        (it and those after it); None if none was suspect."""
        entries = list(self._recent)
        first = next((k for k, e in enumerate(entries) if e is not None), None)
        if first is None:
            return None
        return entries[first], len(entries) - first
