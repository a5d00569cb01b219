"""Backblaze's original entry point, kept for those who follow its instructions.

``python create_custom_actions.py ENDPOINT [B2_STORAGE_ID LL_STORAGE_ID [FORMATS]]`` is the same as
``b2-iconik-actions create ENDPOINT ...`` (options such as
``--formats`` and ``--dry-run`` work too).
"""

import sys

from b2_iconik.custom_actions import main

if __name__ == "__main__":
    sys.exit(main(["create", *sys.argv[1:]]))
