"""The one event-loop-in-a-thread: one loop for every call, results and errors back to the caller, clean stop."""

import asyncio
import threading
from concurrent.futures import TimeoutError as FutureTimeout

import pytest

from common.loop_thread import LoopThread


async def _where() -> tuple[int, asyncio.AbstractEventLoop]:
    return threading.get_ident(), asyncio.get_running_loop()


def test_every_call_runs_on_the_same_loop_in_its_own_thread():
    runner = LoopThread("test-loop")
    try:
        first = runner.run(_where(), timeout=5)
        second = runner.run(_where(), timeout=5)
    finally:
        runner.stop()

    assert first == second
    assert first[0] != threading.get_ident()


def test_an_exception_reaches_the_caller_and_the_loop_goes_on():
    async def fail() -> None:
        raise ValueError("boom")

    runner = LoopThread("test-loop")
    try:
        with pytest.raises(ValueError, match="boom"):
            runner.run(fail(), timeout=5)
        assert runner.run(_where(), timeout=5)
    finally:
        runner.stop()


def test_a_call_that_outlives_its_timeout_raises_timeout():
    runner = LoopThread("test-loop")
    try:
        with pytest.raises(FutureTimeout):
            runner.run(asyncio.sleep(10), timeout=0.1)
    finally:
        runner.stop()


def test_stop_ends_the_thread_and_a_later_use_starts_a_new_loop():
    runner = LoopThread("test-loop")
    _, first_loop = runner.run(_where(), timeout=5)
    runner.stop()

    assert not runner.running
    assert first_loop.is_closed()
    assert not any(t.name == "test-loop" and t.is_alive() for t in threading.enumerate())
    _, second_loop = runner.run(_where(), timeout=5)
    runner.stop()
    runner.stop()  # repeatable
    assert second_loop is not first_loop
