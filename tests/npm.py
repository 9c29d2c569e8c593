"""Node packages the tests use (axe-core, the TimescaleDB harness), each pinned in its folder's package-lock.json."""

import fcntl
import shutil
import subprocess
from pathlib import Path

INSTALL_TIMEOUT = 300


def npm_ci(folder: Path, unavailable: type[Exception], *, expect: Path | None = None) -> None:
    """`npm ci` in `folder` when its node_modules is missing, older than its lock file or lacks `expect`;
    `unavailable` (the caller's skip reason) when npm is missing or the install fails. Concurrent runs on one
    checkout: the second waits for the first's install."""
    lock_file = folder / "package-lock.json"
    installed = folder / "node_modules" / ".package-lock.json"
    with lock_file.open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = installed.exists() and installed.stat().st_mtime >= lock_file.stat().st_mtime
        if current and (expect is None or expect.exists()):
            return
        npm = shutil.which("npm")
        if npm is None:
            raise unavailable(f"npm is not installed (needed once to run `npm ci` in {folder})")
        result = subprocess.run(
            [npm, "ci", "--prefix", str(folder), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise unavailable(f"npm ci in {folder} failed: {result.stderr.strip()[-2000:]}")
