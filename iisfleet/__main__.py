"""`python -m iisfleet`: the same command tree as the `iisfleet` console script."""

import sys

from iisfleet.cli import main

sys.exit(main())
