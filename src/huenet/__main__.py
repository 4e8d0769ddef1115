"""``python -m huenet``: the same command line as the ``huenet`` script, for when the
script's folder is not on PATH (a user install, a bare virtual environment)."""

import sys

from huenet.cli import main

sys.exit(main())
