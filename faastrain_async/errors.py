"""The error tree of faastrain.

Every error the library raises on purpose derives from :class:`FaaSTrainError`, so a caller
can catch the whole family; the leaves say which part failed.

    FaaSTrainError
    ├── ConfigError            a setting, argument or action is not valid (also a ValueError)
    ├── EnvClosedError         the environment was used after close()
    ├── ResetNeeded            a step came before the first reset
    ├── OutputError            a result file could not be written (disk full, no permission, ...)
    └── BackendError           the backend (cluster, simulator, load generator) failed
        ├── ScaleRejected      a scale request was refused (403, 404, 422, retries exhausted)
        ├── SettleTimeout      replicas did not settle within settle_timeout (policy "raise")
        ├── WatchError         the replica watcher stopped and could not recover
        ├── MetricsUnavailable a metric for the window could not be read
        ├── LoadGeneratorError the load generator failed or died
        └── CalibrationError   a calibration could not measure what it needs to fit
"""

from __future__ import annotations


class FaaSTrainError(Exception):
    """Base of every error faastrain raises on purpose."""


class ConfigError(FaaSTrainError, ValueError):
    """A setting, argument or action is not valid; the message names it and what is allowed."""


class EnvClosedError(FaaSTrainError, RuntimeError):
    """The environment was used after ``close()``."""


class BackendError(FaaSTrainError):
    """The backend failed to do what a step needs."""


class ScaleRejected(BackendError):
    """A request to change the replica count was refused."""


class SettleTimeout(BackendError):
    """The replicas did not settle on the target within ``settle_timeout``."""


class WatchError(BackendError):
    """The replica watcher stopped and could not recover."""


class MetricsUnavailable(BackendError):
    """A metric of the measurement window could not be read."""


class LoadGeneratorError(BackendError):
    """The load generator could not start, failed, or died."""


class CalibrationError(BackendError):
    """A calibration's experiment could not measure what its fit needs (the message says what)."""


class ResetNeeded(FaaSTrainError, RuntimeError):
    """A step was asked for before the first reset."""


class OutputError(FaaSTrainError):
    """A result file could not be written; the message names the file and the reason."""
