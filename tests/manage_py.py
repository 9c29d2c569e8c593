"""Running a `manage.py` command in a process of its own, as the Procfile does, on the test database and Redis."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.db import connection

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class ManagePy:
    """One `manage.py` command as the Procfile runs it, on the test database and the test Redis."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.process: subprocess.Popen | None = None

    def start(self, *args: str) -> subprocess.Popen:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": self.redis_url,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
        }
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self.process

    def running(self) -> None:
        """Fail with the command's output when it has ended."""
        assert self.process is not None
        assert self.process.poll() is None, self.process.communicate()

    def sigterm(self) -> str:
        """Stop it as the process manager does; its output, once it has exited cleanly."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        stdout, stderr = self.process.communicate(timeout=20)
        assert self.process.returncode == 0, stderr
        return stdout

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
