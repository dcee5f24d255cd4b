"""The Celery app, with the controller's Redis as broker (keys under the controller's prefix)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

from controller.settings import ControllerSettings
from shared.redis_url import celery_url


def make_celery(
    redis_url: str, prefix: str = "iisfleet:", settings: ControllerSettings | None = None, state_url: str | None = None
) -> Any:
    """A Celery app on `redis_url`; with `settings` (a worker) it also defines the job tasks.

    The tasks keep job state in `state_url` (default: the broker's Redis; tests run the broker in memory).
    """
    app = Celery("iisfleet", broker=celery_url(redis_url), set_as_current=False)
    visibility = settings.visibility_timeout if settings else 900.0
    app.conf.update(
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "global_keyprefix": prefix + "celery:",
            # A task whose worker died goes back to the queue after this long; steps end well before it.
            "visibility_timeout": visibility,
            "unacked_restore_interval": max(1, min(10, int(visibility / 3))),
            "unacked_restore_throttle": 1,
        },
        task_default_queue="iisfleet",
        worker_hijack_root_logger=False,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # The pidbox (remote control) consumer is what crashes in kombu when Redis restarts, leaving a
        # worker that no longer consumes; nothing here uses remote control, so leave it out.
        worker_enable_remote_control=False,
    )

    @app.task(name="iisfleet.ping", shared=False)  # type: ignore[untyped-decorator]
    def ping() -> str:
        return "pong"

    if settings is not None:
        from controller.worker.tasks import register_tasks

        runtime = register_tasks(app, settings, state_url or redis_url)

        def close_runtime(sender: Any = None, **_: Any) -> None:
            # Close the process's shared loop, Redis pool and agent sessions when this app's worker stops.
            if getattr(sender, "app", None) is app:
                runtime.close()

        signals.worker_shutdown.connect(close_runtime, weak=False)
    return app


def run_worker(redis_url: str, settings: ControllerSettings, extra: list[str] | None = None) -> None:
    """Run a Celery worker in this process until it is told to stop (threads: steps wait on the network)."""
    app = make_celery(redis_url, settings.redis_prefix, settings)
    argv = [
        "worker", "--loglevel=INFO", "--pool=threads", f"--concurrency={settings.worker_concurrency}",
        "--without-mingle", "--without-gossip", "-n", f"iisfleet-{os.getpid()}@%h",
    ]
    app.worker_main([*argv, *(extra or [])])
