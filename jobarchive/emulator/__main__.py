"""``python -m jobarchive.emulator``."""

import sys

from . import main

sys.exit(main())
