"""expand_path: %VAR% and $VAR references in physical paths, as IIS expands them (no pydantic: workers use it)."""

from __future__ import annotations

import os


def expand_path(value: str) -> str:
    """Expand %VAR% and $VAR references the way IIS expands physical paths."""
    return os.path.expandvars(_percent_vars(value))


def _percent_vars(value: str) -> str:
    parts = value.split("%")
    if len(parts) < 3:
        return value
    out = [parts[0]]
    i = 1
    while i < len(parts):
        if i + 1 < len(parts) and parts[i] and parts[i] in os.environ:
            out.append(os.environ[parts[i]])
            out.append(parts[i + 1])
            i += 2
        else:
            out.append("%" + parts[i])
            i += 1
    return "".join(out)
