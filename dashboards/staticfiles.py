"""Serve Plotly's JavaScript straight from the installed plotly package: no CDN, no copy to keep in step."""

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage
from django.core.files.storage import FileSystemStorage

PLOTLY_STATIC_PATH = "vendor/plotly.min.js"


def _plotly_dir() -> Path:
    return Path(plotly.__file__).resolve().parent / "package_data"


class _VendorStorage(FileSystemStorage):
    """collectstatic copies a finder's files under its storage's `prefix` (as Django's FileSystemFinder sets it)."""

    prefix = "vendor"


class PlotlyFinder(BaseFinder):
    def check(self, **kwargs: Any) -> list[CheckMessage]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs):
        if path != PLOTLY_STATIC_PATH:
            return []  # what Django's own finders answer on a miss, find_all or not
        match = os.fspath(_plotly_dir() / "plotly.min.js")
        return [match] if find_all else match

    def list(self, ignore_patterns: Iterable[str] | None) -> Iterator[tuple[str, FileSystemStorage]]:
        yield "plotly.min.js", _VendorStorage(location=_plotly_dir())
