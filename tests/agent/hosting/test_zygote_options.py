"""The zygote reads its two options without argparse (which would stay in every worker's memory)."""

from __future__ import annotations

import pytest

from agent.hosting.embedded.worker.zygote import _options


def test_it_reads_fd_and_parent_in_any_order() -> None:
    assert _options(["--fd", "5", "--parent", "1234"]) == (5, 1234)
    assert _options(["--parent", "1234", "--fd", "5"]) == (5, 1234)


@pytest.mark.parametrize(
    "argv",
    [[], ["--fd", "5"], ["--fd", "5", "--parent"], ["--fd", "x", "--parent", "1"], ["--fd", "5", "--pool", "1"],
     ["--fd", "5", "--parent", "1", "--extra", "2"]],
)  # fmt: skip
def test_anything_else_is_a_usage_error(argv: list[str]) -> None:
    with pytest.raises(SystemExit, match="usage: python -m agent.hosting.embedded.worker.zygote --fd N --parent PID"):
        _options(argv)
