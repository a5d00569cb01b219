"""Assembles the plugin from the settings: secret, worker, runner, logging.

Kept apart from ``main.py`` so the standalone server, the demo and the tests build exactly what
the Cloud Function runs.
"""

from __future__ import annotations

from b2_iconik.config import Settings
from b2_iconik.errors import ConfigError
from b2_iconik.logs import setup_logging
from b2_iconik.runners import ThreadRunner
from b2_iconik.secret import SharedSecret
from b2_iconik.web import Plugin
from b2_iconik.worker import Worker


def build_plugin(settings: Settings | None = None, configure_logging: bool = True) -> Plugin:
    """Build the plugin.

    Raises:
        ConfigError: a setting is missing or malformed.
    """
    settings = settings or Settings.from_env()
    if settings.tasks_queue:
        raise ConfigError(
            "TASKS_QUEUE is set, but this version runs background steps in-process only; "
            "unset TASKS_QUEUE and TASKS_URL"
        )
    if configure_logging:
        setup_logging(project=settings.google_cloud_project)
    worker = Worker(settings)
    runner = ThreadRunner(worker.execute, workers=settings.worker_threads)
    return Plugin(settings, SharedSecret(settings), worker, runner)
