"""Running a benchmark's main() at a tiny size, as `make bench` does, on a database of its own."""

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

BenchMain = Callable[..., int]


@pytest.fixture
def run_bench(django_db_blocker, capsys) -> Callable[..., tuple[dict[str, Any], list[str]]]:
    """`run_bench(main, argv, database=name)`: run it on database `name` (dropped at the end; name it per process
    so that concurrent test runs cannot collide); (its JSON result, every line it printed). Fails unless it exits
    0 and its one JSON object is its last line."""

    def run(main: BenchMain, argv: Sequence[str], *, database: str) -> tuple[dict[str, Any], list[str]]:
        with django_db_blocker.unblock():
            assert main([*argv, "--database-name", database]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert not any(line.lstrip().startswith("{") for line in lines[:-1])
        result = json.loads(lines[-1])
        assert isinstance(result, dict)
        return result, lines

    return run
