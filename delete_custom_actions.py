"""Backblaze's original entry point, kept for those who follow its instructions.

``python delete_custom_actions.py ENDPOINT [--dry-run]`` is the same as
``b2-iconik-actions delete ENDPOINT``: it deletes only that endpoint's plugin actions.
"""

import sys

from b2_iconik.custom_actions import main

if __name__ == "__main__":
    sys.exit(main(["delete", *sys.argv[1:]]))
