"""The worker process (w3wp's role): one application pool's requests through a pipeline of IIS-named modules.

A worker never speaks TLS (the supervisor terminates it) yet asyncio imports ssl eagerly, ~4 MiB of every
worker's resident memory. So when this package is imported on the way to `python -m <a worker entry point>`
(Python sets sys.argv[0] to "-m" while it locates the module) and asyncio is not loaded yet, the ssl import is
blocked: asyncio then runs without it (it checks `ssl is None`). Any other process keeps its ssl.
"""

import sys

if sys.argv[:1] == ["-m"] and "asyncio" not in sys.modules:
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]
