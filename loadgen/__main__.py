"""``python -m loadgen``: the same as ``faastrain-loadgen``."""

import sys

from loadgen.cli import main

sys.exit(main())
