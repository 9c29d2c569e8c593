"""Plain functions without pytest-django's database: these tests start and stop their own servers, apart from the
suite's (which live in the default state folder under the "test" profile)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.embedded import stop_profile


@pytest.fixture
def state() -> Iterator[Path]:
    # Not tmp_path: pytest makes its parents private (0700), and as root PostgreSQL runs as another user.
    root = Path(tempfile.mkdtemp(prefix="millwright-embedded-"))
    root.chmod(0o755)
    yield root
    for profile in root.iterdir():
        if profile.is_dir():
            stop_profile(profile.name, base=root)
    shutil.rmtree(root, ignore_errors=True)
