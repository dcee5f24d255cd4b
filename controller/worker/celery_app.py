"""The Celery app, with the controller's Redis as broker (keys under the controller's prefix)."""

from __future__ import annotations

from typing import Any

from celery import Celery

from shared.redis_url import celery_url


def make_celery(redis_url: str, prefix: str = "iisfleet:") -> Any:
    """A Celery app on `redis_url`; `iisfleet.ping` answers "pong" so a deployment can be checked."""
    app = Celery("iisfleet", broker=celery_url(redis_url), set_as_current=False)
    app.conf.update(
        broker_connection_retry_on_startup=True,
        broker_transport_options={"global_keyprefix": prefix + "celery:"},
        task_default_queue="iisfleet",
        worker_hijack_root_logger=False,
        task_ignore_result=True,
    )

    @app.task(name="iisfleet.ping")  # type: ignore[untyped-decorator]
    def ping() -> str:
        return "pong"

    return app


def run_worker(redis_url: str, prefix: str, extra: list[str] | None = None) -> None:
    """Run a Celery worker in this process until it is told to stop."""
    app = make_celery(redis_url, prefix)
    argv = ["worker", "--loglevel=INFO", "--pool=solo", "--without-mingle", "--without-gossip", "-n", "iisfleet@%h"]
    app.worker_main([*argv, *(extra or [])])
