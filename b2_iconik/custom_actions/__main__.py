"""``python -m b2_iconik.custom_actions``: the same as ``b2-iconik-actions``."""

import sys

from b2_iconik.custom_actions.cli import main

sys.exit(main())
