"""Calibration: measure a live function as the simulator parameterises it (docs/calibration.md).

- :mod:`.file`: the calibration file (format, writer, validating reader); the simulator reads
  only this, through :func:`load_calibration`;
- :mod:`.measurements` and :mod:`.fit` / :mod:`.parameters`: what was measured, and the
  fitting as pure functions of it;
- :mod:`.experiment`: the experiment, driven through a live backend's own ports;
- :mod:`.run`: one calibration from a cluster to its file.

Only the file's names are imported here, so loading a calibration costs no backend import.
"""

from faastrain_async.calibration.file import FORMAT, UNITS, VERSION, Calibration, Parameter, load_calibration, read_calibration, write_calibration

__all__ = ["FORMAT", "UNITS", "VERSION", "Calibration", "Parameter", "load_calibration", "read_calibration", "write_calibration"]
