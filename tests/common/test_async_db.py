"""database_read runs a consumer's reads side by side, not one after another in the one thread-sensitive thread."""

import asyncio
import threading

import pytest
from django.contrib.auth import get_user_model

from common.async_db import database_read


def test_two_reads_run_at_the_same_time():
    meeting = threading.Barrier(2, timeout=10)  # broken (an error) unless both calls wait in it at once

    def read(n: int) -> tuple[int, str]:
        meeting.wait()
        return n, threading.current_thread().name

    async def both():
        return await asyncio.gather(database_read(read)(1), database_read(read)(2))

    (first, thread_1), (second, thread_2) = asyncio.run(both())
    assert (first, second) == (1, 2)
    assert thread_1 != thread_2


@pytest.mark.django_db(transaction=True)
def test_a_read_sees_committed_rows(make_user):
    user = make_user("reader")

    def usernames() -> list[str]:
        return list(get_user_model().objects.filter(pk=user.pk).values_list("username", flat=True))

    assert asyncio.run(database_read(usernames)()) == ["reader"]
