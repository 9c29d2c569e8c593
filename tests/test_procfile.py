"""Every process of the demo's Procfile accepts its command line (an unknown option would stop `make demo`)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PROCESSES = dict(
    line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip() and ":" in line
)


def test_the_demo_runs_web_workers_and_the_simulator():
    assert {"web", "worker", "beat", "simulator"} <= set(PROCESSES)


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_each_procfile_command_parses_its_options(name):
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "MILLWRIGHT_HOST": "127.0.0.1",
        "MILLWRIGHT_WEB_PORT": "8000",
        "MILLWRIGHT_SIMULATOR_PORT": "5020",
        "MILLWRIGHT_OPCUA_PORT": "4840",
        "MILLWRIGHT_SPARKPLUG_BROKER": "",  # no broker: the demo's default on a fresh machine
    }
    # --help last: click (celery, uvicorn) and Django's commands reject an unknown option before they print help.
    # The Procfile line is a shell command, as honcho runs it.
    result = subprocess.run(  # noqa: S602
        f"{PROCESSES[name].strip()} --help",
        shell=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_web_process_does_not_compress_websocket_frames():
    """permessage-deflate cost 13 % of a web process's CPU at 200 sockets (bench/live.py, issue 17): it stays off
    wherever uvicorn is started for production (the Procfile, the image's command) and in the benchmark."""
    assert "--ws-per-message-deflate false" in PROCESSES["web"]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert '"--ws-per-message-deflate", "false"' in dockerfile.split('CMD ["uvicorn"', 1)[1].split("]", 1)[0]
