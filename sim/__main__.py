"""``python -m sim``: the command line (see sim.cli)."""

import sys

from sim.cli import main

sys.exit(main())
