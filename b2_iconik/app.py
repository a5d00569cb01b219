"""Assembles the plugin from the settings: secret, worker, runner, logging.

The runner is the one choice configuration makes: Cloud Tasks when ``TASKS_QUEUE`` is set,
otherwise a bounded pool in this process. Nothing else branches on it.

Kept apart from ``main.py`` so the standalone server, the demo and the tests build exactly what
the Cloud Function runs.
"""

from __future__ import annotations

from b2_iconik.auth.secret import SharedSecret
from b2_iconik.base.config import Settings
from b2_iconik.base.logs import setup_logging
from b2_iconik.edge.router import Plugin
from b2_iconik.engine.cloud_tasks import CloudTasksRunner
from b2_iconik.engine.runners import ThreadRunner
from b2_iconik.engine.worker import Worker


def build_plugin(settings: Settings | None = None, configure_logging: bool = True) -> Plugin:
    """Build the plugin.

    Raises:
        ConfigError: a setting is missing or malformed (from ``Settings.from_env``).
    """
    settings = settings or Settings.from_env()
    if configure_logging:
        setup_logging(project=settings.google_cloud_project)
    worker = Worker(settings)
    secret = SharedSecret(settings)
    if settings.tasks_queue:
        queued = CloudTasksRunner(settings, secret, worker)
        return Plugin(settings, secret, worker, queued, deliveries=queued)
    runner = ThreadRunner(
        worker.execute,
        workers=settings.worker_threads,
        heartbeat=worker.touch,
        heartbeat_seconds=settings.inprocess_stale_seconds / 3,
    )
    return Plugin(settings, secret, worker, runner)
