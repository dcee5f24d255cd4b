"""What the supervisor and its worker processes agree on beyond HTTP: how a worker is run and says it is up."""

from __future__ import annotations

WORKER_MODULE = "agent.hosting.embedded.worker"
"""Run as `python -m WORKER_MODULE --pool P --config C --fd N --control N --parent PID` (control: handoff_wire.py)."""
READY_LINE = b"READY\n"
"""A worker writes this line to stdout once it serves its socket."""
ZYGOTE_MODULE = "agent.hosting.embedded.worker.zygote"
"""Run as `python -m ZYGOTE_MODULE --fd N --parent PID`: the fork server workers start from (worker/zygote.py)."""

ABORT_HEADER = "X-IISFleet-Abort"
"""A worker response carrying this header makes the supervisor drop the client connection (IIS AbortRequest)."""
