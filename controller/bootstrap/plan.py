"""The install plan: what goes where on the target, and the POSIX sh script that installs and starts the agent.

The script reads its parameters from assignments at its top and is sent over SSH on stdin (`sh -s`), so the
join token never appears on a remote command line while installing; the agent's own command line carries it
until the agent exits, which is harmless because a join token is single-use and short-lived.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from controller.bootstrap.models import BootstrapRequest

INSTALL_TIMEOUT = 900.0
"""Longest the install script may run (a venv plus pip install on a slow index)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentPlan:
    """Everything the target needs to install, start and enroll one agent."""

    install_dir: str
    controller_url: str
    join_token: str
    address: str
    port: int
    name: str
    python: str | None
    """An interpreter with iisfleet installed (nothing is installed), else None."""
    base_python: str
    wheel_name: str | None
    """The iisfleet wheel's file name when installing (uploaded into `install_dir`)."""
    service: str
    windows: bool

    @property
    def sep(self) -> str:
        """The target's path separator."""
        return "\\" if self.windows else "/"

    def path(self, *parts: str) -> str:
        """A path under the install directory."""
        return self.sep.join([self.install_dir.rstrip(self.sep), *parts])

    @property
    def wheel_path(self) -> str | None:
        """Where the wheel is uploaded."""
        return self.path(self.wheel_name) if self.wheel_name else None

    @property
    def log_path(self) -> str:
        """The agent's stdout/stderr log when it is not run by systemd."""
        return self.path("log", "agent.log")

    @property
    def unit(self) -> str:
        """The systemd unit, NSSM service or scheduled task name: one per agent name."""
        return f"iisfleet-agent-{self.name}"


def make_plan(request: BootstrapRequest, *, controller_url: str, join_token: str, wheel_name: str | None) -> AgentPlan:
    """The plan for one bootstrap request."""
    windows = request.transport == "winrm"
    return AgentPlan(
        install_dir=request.target_dir,
        controller_url=controller_url,
        join_token=join_token,
        address=request.agent_address,
        port=request.agent_port,
        name=request.agent_name,
        python=request.python,
        base_python=request.base_python or ("py" if windows else "python3"),
        wheel_name=None if request.python else wheel_name,
        service=request.service,
        windows=windows,
    )


def agent_args(plan: AgentPlan) -> list[str]:
    """`iisfleet agent run ...` arguments after the interpreter."""
    return [
        "-m", "shared.cli", "agent", "run",
        "--state-dir", plan.path("state"),
        "--address", plan.address,
        "--port", str(plan.port),
        "--controller", plan.controller_url,
        "--join-token-file", plan.path("join-token"),  # not the token itself: command lines are public
        "--name", plan.name,
    ]  # fmt: skip


_LINUX_BODY = r"""
set -eu
umask 077
mkdir -p "$DIR/state" "$DIR/log"
printf '%s\n' "$JOIN_TOKEN" > "$DIR/join-token"
if [ -n "$WHEEL" ]; then
    if [ ! -x "$DIR/venv/bin/python" ]; then
        echo "creating venv $DIR/venv"
        "$BASE_PYTHON" -m venv "$DIR/venv"
    fi
    echo "installing $WHEEL"
    "$DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$WHEEL"
    PY="$DIR/venv/bin/python"
else
    PY="$PYTHON"
fi
"$PY" -c "import agent.cli, shared.cli" || { echo "iisfleet is not importable by $PY" >&2; exit 3; }

# A second bootstrap of the same agent replaces the running one.
if [ -f "$DIR/agent.pid" ]; then
    OLD=$(cat "$DIR/agent.pid")
    if kill -0 "$OLD" 2>/dev/null; then
        kill "$OLD"
        n=0; while kill -0 "$OLD" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.2; n=$((n+1)); done
    fi
    rm -f "$DIR/agent.pid"
fi

if [ "$SERVICE" = auto ]; then
    if [ -d /run/systemd/system ] && [ "$(id -u)" = 0 ] && command -v systemctl >/dev/null 2>&1; then
        SERVICE=systemd
    else
        SERVICE=nohup
    fi
fi

if [ "$SERVICE" = systemd ]; then
    UNIT_FILE="/etc/systemd/system/$UNIT.service"
    cat > "$UNIT_FILE" <<UNIT
[Unit]
Description=IIS Fleet agent $NAME
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=$PY $ARGS
WorkingDirectory=$DIR
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
    systemctl daemon-reload
    systemctl enable "$UNIT.service" >/dev/null
    systemctl restart "$UNIT.service"
    echo "started systemd unit $UNIT"
else
    cd "$DIR"
    SETSID=""
    if command -v setsid >/dev/null 2>&1; then SETSID=setsid; fi
    # nohup + setsid + closed stdin: the agent outlives this SSH session.
    $SETSID nohup "$PY" $ARGS </dev/null >>"$DIR/log/agent.log" 2>&1 &
    echo $! > "$DIR/agent.pid"
    sleep 1
    if ! kill -0 "$(cat "$DIR/agent.pid")" 2>/dev/null; then
        echo "the agent exited at once; the end of $DIR/log/agent.log:" >&2
        tail -n 20 "$DIR/log/agent.log" >&2
        exit 4
    fi
    echo "started pid $(cat "$DIR/agent.pid")"
fi
"""


def linux_script(plan: AgentPlan) -> str:
    """The sh script (for `sh -s`) that installs the agent when asked, then starts it under systemd or nohup."""
    # Every value is checked to be plain (models.py) and quoted again here; ARGS is split by the shell on purpose.
    params = {
        "DIR": plan.install_dir,
        "PYTHON": plan.python or "",
        "BASE_PYTHON": plan.base_python,
        "WHEEL": plan.wheel_path or "",
        "SERVICE": plan.service,
        "UNIT": plan.unit,
        "NAME": plan.name,
        "JOIN_TOKEN": plan.join_token,
        "ARGS": " ".join(agent_args(plan)),
    }
    head = "\n".join(f"{key}={shlex.quote(value)}" for key, value in params.items())
    return head + "\n" + _LINUX_BODY.lstrip("\n")


def linux_log_tail(plan: AgentPlan, lines: int = 30) -> str:
    """A command that prints the end of the agent's log (nohup log, else the systemd journal)."""
    log = shlex.quote(plan.log_path)
    unit = shlex.quote(plan.unit + ".service")
    return f"if [ -s {log} ]; then tail -n {lines} {log}; else journalctl -u {unit} -n {lines} --no-pager 2>&1; fi"
