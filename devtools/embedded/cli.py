"""`python -m devtools.embedded {run,status,stop}`: run a command with DATABASE_URL / REDIS_URL pointing at a
profile's embedded servers (started for it, stopped after it), show them, or stop them."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from devtools.embedded.process import ENV_VARS, KINDS, EmbeddedServiceError, Server, configured, state_dir
from devtools.embedded.servers import ensure_servers, server_status, stop_profile, stop_server

DESCRIPTION = (
    "Private PostgreSQL and Redis servers for the demo and the tests, where DATABASE_URL / REDIS_URL are unset."
)


def _terminal_sends_sigint() -> bool:
    """Whether we are in the terminal's foreground process group: then Ctrl-C also reached our child."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


def _initial_environ() -> dict[str, str]:
    """The environment this process started with, where the system shows it (Linux).

    `python -m devtools.embedded` imports the `config` package, whose celery.py sets a DJANGO_SETTINGS_MODULE
    default in os.environ (and in posix.environ, which it wraps); passed on, it would override pytest's.
    """
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return dict(os.environ)
    pairs = (entry.partition(b"=") for entry in raw.split(b"\0") if entry)
    return {os.fsdecode(key): os.fsdecode(value) for key, _, value in pairs}


def _run(profile: str, command: list[str]) -> int:
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child is None:
            raise KeyboardInterrupt
        if child.poll() is None and not (signum == signal.SIGINT and _terminal_sends_sigint()):
            child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    kinds = [kind for kind in KINDS if not configured(ENV_VARS[kind])]
    started: list[Server] = []
    try:
        servers = ensure_servers(profile, kinds)
        started = [server for server in servers if server.started]
        for server in servers:
            how = "started" if server.started else "reused"
            print(f"millwright embedded: {server.env_var}={server.url} ({how})", file=sys.stderr)
        env = {**_initial_environ(), **{server.env_var: server.url for server in servers}}
        try:
            child = subprocess.Popen(command, env=env)
        except OSError as exc:
            print(f"millwright embedded: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
            return 127
        returncode = child.wait()
    finally:
        for server in reversed(started):
            stop_server(server)
    return returncode if returncode >= 0 else 128 - returncode


def _print_status(profile: str) -> int:
    print(f"profile {profile}: {state_dir() / profile}")
    for kind, server in server_status(profile).items():
        where = f"pid {server.pid}, {server.url}" if server else "not running"
        note = f" ({ENV_VARS[kind]} is set, so it is not used)" if configured(ENV_VARS[kind]) else ""
        print(f"  {kind}: {where}{note}")
    return 0


def _stop_all(profile: str) -> int:
    stopped = stop_profile(profile)
    for server in stopped:
        print(f"stopped {server.kind} (pid {server.pid}, port {server.port})")
    if not stopped:
        print(f"nothing runs for profile {profile}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.embedded", description=DESCRIPTION)
    actions = parser.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="run a command with DATABASE_URL / REDIS_URL set")
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- command [args...]")
    actions.add_parser("status", help="show the embedded servers of a profile")
    actions.add_parser("stop", help="stop the embedded servers of a profile, whoever started them")
    for action in actions.choices.values():
        action.add_argument("--profile", default="demo", help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        if args.action == "run":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            if not command:
                parser.error("run needs a command: run --profile demo -- command [args...]")
            return _run(args.profile, command)
        return _print_status(args.profile) if args.action == "status" else _stop_all(args.profile)
    except EmbeddedServiceError as exc:
        print(f"millwright embedded: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
