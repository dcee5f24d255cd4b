"""Entry point of a worker process (the supervisor runs `python -m agent.hosting.embedded.worker`)."""

import sys

from agent.hosting.embedded.worker.process import main

sys.exit(main())
