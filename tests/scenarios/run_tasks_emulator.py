"""Start gcloud-tasks-emulator bound to 127.0.0.1 (it binds every interface by itself).

Run with the emulator's own interpreter (``.venv-tasks/bin/python``):
``python run_tasks_emulator.py PORT QUEUE``. Tests only.
"""

import sys

import grpc

_server = grpc.server


def _loopback_server(*args, **kwargs):
    """grpc.server whose ports are opened on 127.0.0.1 instead of every interface."""
    server = _server(*args, **kwargs)
    add_port = server.add_insecure_port
    server.add_insecure_port = lambda address: add_port(address.replace("[::]", "127.0.0.1"))
    return server


grpc.server = _loopback_server

from gcloud_tasks_emulator.server import create_server  # noqa: E402  (after the patch)

port, queue = int(sys.argv[1]), sys.argv[2]
create_server("127.0.0.1", port, "127.0.0.1", 0, [queue], max_retries=5).run()
