"""Optional compiled build of the simulator's hot path (everything else is in pyproject.toml).

``FAASTRAIN_COMPILE=1 pip install .`` compiles the modules below with mypyc into C
extensions; a simulated step then costs about half as much. Without the variable the
package is pure Python, and both builds give the same episodes bit for bit. Keep an
editable install pure: a compiled module next to its source shadows later edits to it.
"""

import os
import sys

from setuptools import setup

#: The modules a simulated step spends most of its time in.
COMPILED = ["faastrain_async/clock.py", "faastrain_async/engine/state.py", "faastrain_async/backends/sim/model.py"]

compile_requested = os.environ.get("FAASTRAIN_COMPILE", "0")
if compile_requested not in ("0", "1"):
    raise SystemExit(f"FAASTRAIN_COMPILE={compile_requested!r}: use 1 (compile with mypyc) or 0 (pure Python)")

ext_modules = []
if compile_requested == "1":
    if "editable_wheel" in sys.argv:
        raise SystemExit(
            "FAASTRAIN_COMPILE=1 needs a regular install (pip install .), not an editable one: "
            "compiled modules in the source tree would shadow later edits to it"
        )
    from mypyc.build import mypycify  # a build requirement (pyproject.toml)

    # Only the compiled modules are checked; the rest of the package is read for its types.
    ext_modules = mypycify(["--follow-imports=silent", *COMPILED], opt_level="3")

setup(ext_modules=ext_modules)
