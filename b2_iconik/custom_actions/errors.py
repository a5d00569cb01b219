"""The tool's own error, apart from the plugin's :mod:`b2_iconik.base.errors` tree.

It lives in a module of its own because checks everywhere in the tool raise it (the endpoint in
:mod:`.actions`, the storages in :mod:`.api`, the arguments in :mod:`.cli`) and only the command
line turns it into an exit status.
"""


class UsageError(Exception):
    """A wrong argument or setting; exit status 2 with the message as the only output."""
