"""Project exceptions.

Every error raised on bad input derives from :class:`QsatPatError` and says what was
wrong and what to do about it (STYLE.md "Errors and bad input").
"""


class QsatPatError(Exception):
    """Base class of every error qsat_pat raises on purpose."""


class ConfigError(QsatPatError, ValueError):
    """A parameter or configuration value is missing, non-finite or out of range."""


class EphemerisError(QsatPatError, ValueError):
    """A TLE, site or time request cannot give a valid ephemeris."""


class ImagingError(QsatPatError, ValueError):
    """A camera frame or calibration frame cannot be processed."""


class EstimationError(QsatPatError, ValueError):
    """A measurement or time stamp cannot be used by an estimator."""


class ControlError(QsatPatError, ValueError):
    """A pointing command or set-point is non-finite or outside the actuator's limits."""


class LinkError(QsatPatError, ValueError):
    """A link-budget, key-rate or modem parameter is non-physical."""


class ModemError(QsatPatError, ValueError):
    """A frame or payload cannot be encoded or decoded."""


class DeploymentError(QsatPatError, ValueError):
    """A deployment, node table entry or parameter file is inconsistent."""


class SimulationError(QsatPatError, ValueError):
    """A simulator scenario is missing fields or has out-of-range values."""


class Rejected(QsatPatError, ValueError):
    """An input a decision object refuses (a malformed or stale message): the caller counts it
    as ``rejected_<kind>`` and goes on (a node keeps running, the in-process loop too).

    Parameters
    ----------
    kind : str
        Short counter name, e.g. ``"non_finite_centroid"``.
    message : str
        What was wrong, for the (throttled) log.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
