"""Waiting on an observable event, the one way the suite waits (no fixed sleeps that "prove" something happened)."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `condition` until it returns something truthy (returned), or fail after `timeout` s saying `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def stays_false(condition: Callable[[], object], *, seconds: float, interval: float = 0.05) -> bool:
    """True when `condition` stays falsy for `seconds`: for "nothing happened", checked all along, not once."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return False
        time.sleep(interval)
    return not condition()


def step_until(
    step: Callable[[], object], condition: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    """`wait_until` for a loop the test drives itself (a runner's `step()`): run `step` between looks at
    `condition` until it returns something truthy (returned), or fail after `timeout` s saying `what`."""

    def stepped() -> T:
        result = condition()
        if not result:
            step()
        return result

    return wait_until(stepped, timeout=timeout, what=what, interval=interval)
