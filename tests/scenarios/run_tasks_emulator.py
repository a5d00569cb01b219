"""Start gcloud-tasks-emulator on 127.0.0.1, with what it lacks of Cloud Tasks made up for.

Run with the emulator's own interpreter (``.venv-tasks/bin/python``)::

    python run_tasks_emulator.py PORT QUEUE DISPATCHER_URL

gcloud-tasks-emulator 0.6.2 keeps tasks, honours ``schedule_time`` and speaks the real gRPC API,
but it binds every interface, accepts a task name used before, has no size limit, no DeleteTask,
and dispatches one task at a time, retrying at once. This thin wrapper keeps its API and its
timing and hands everything else to the test dispatcher (``tests/scenarios/dispatcher.py``,
in the pytest process), which plays Cloud Tasks' part there:

* every CreateTask first asks the dispatcher (``POST /create``), which answers ALREADY_EXISTS
  for a name in use or used within the reservation time, INVALID_ARGUMENT over 100 KB, or a
  refusal a test asked for;
* DeleteTask removes the task and tells the dispatcher (``POST /deleted``), which reserves the
  name (and a task deleted while the emulator was about to dispatch it is skipped: unpatched,
  that kills its dispatching thread);
* a task that falls due is handed to the dispatcher (``POST /dispatch``) at once; the dispatcher
  delivers it with Cloud Tasks' headers, concurrency, retries and backoff.

Tests only.
"""

import base64
import json
import logging
import sys
import threading
import urllib.request

import grpc

_server = grpc.server


def _loopback_server(*args, **kwargs):
    """grpc.server whose ports are opened on 127.0.0.1 instead of every interface."""
    server = _server(*args, **kwargs)
    add_port = server.add_insecure_port
    server.add_insecure_port = lambda address: add_port(address.replace("[::]", "127.0.0.1"))
    return server


grpc.server = _loopback_server

from gcloud_tasks_emulator import server as emulator  # noqa: E402
from google.api_core import exceptions  # noqa: E402  (after the patch)
from google.protobuf import empty_pb2  # noqa: E402

port, queue, dispatcher = int(sys.argv[1]), sys.argv[2], sys.argv[3].rstrip("/")
_lock = threading.RLock()


def _ask(path, payload):
    """POST JSON to the dispatcher; its JSON answer."""
    request = urllib.request.Request(
        dispatcher + path,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"{}")


_create_task = emulator.QueueState.create_task


def _create_checked(self, queue_name, task):
    """CreateTask, after the dispatcher said the name and the size are acceptable."""
    http = task.http_request
    verdict = _ask("/create", {
        "name": task.name,
        "size": len(http.body),
        "kind": dict(http.headers).get("X-B2-Iconik-Step", ""),
    })
    if verdict.get("error") == "ALREADY_EXISTS":
        raise exceptions.AlreadyExists(verdict.get("message", "task exists"))
    if verdict.get("error"):
        error = getattr(exceptions, verdict["error"], exceptions.InvalidArgument)
        raise error(verdict.get("message", "refused"))
    with _lock:
        return _create_task(self, queue_name, task)


def _delete_task(self, request, context):
    """DeleteTask: gone from the queue, its name reserved by the dispatcher."""
    with _lock:
        tasks = self._state._queue_tasks.get(request.name.rsplit("/tasks/", 1)[0], [])
        found = [t for t in tasks if t.name == request.name]
        for task in found:
            tasks.remove(task)
    if not found:
        context.abort(grpc.StatusCode.NOT_FOUND, f"Task {request.name} not found")
    _ask("/deleted", {"name": request.name})
    return empty_pb2.Empty()


class _Answer:
    status = 200


def _hand_over(queue_name, task, host, port):
    """The emulator's dispatch, replaced: give the task to the dispatcher."""
    http = task.http_request
    oidc = None
    if http.oidc_token.service_account_email:
        oidc = {"email": http.oidc_token.service_account_email,
                "audience": http.oidc_token.audience}
    _ask("/dispatch", {
        "oidc": oidc,
        "name": task.name,
        "queue": queue_name,
        "url": http.url,
        "headers": dict(http.headers),
        "body": base64.b64encode(http.body).decode(),
        "eta": task.schedule_time.timestamp() if task.schedule_time else None,
    })
    return _Answer()


_submit_task = emulator.QueueState.submit_task


def _submit_locked(self, task_name, force_run=False):
    """Dispatch a due task, one at a time; a task deleted since the emulator listed it (a
    lease) is skipped, not allowed to kill the emulator's dispatching thread."""
    with _lock:
        try:
            return _submit_task(self, task_name, force_run)
        except exceptions.NotFound:
            return None


emulator.QueueState.create_task = _create_checked
emulator.QueueState.submit_task = _submit_locked
emulator.Greeter.DeleteTask = _delete_task
emulator._make_task_request = _hand_over
logging.getLogger("gcloud-tasks-emulator").setLevel(logging.WARNING)

emulator.create_server("127.0.0.1", port, "127.0.0.1", 0, [queue], max_retries=-1).run()
