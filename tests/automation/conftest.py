"""Rules over engineered history: a vibration tag whose firings were computed by hand."""

from datetime import UTC, datetime, timedelta

import pytest

from alarms.models import Channel, NotificationRoute
from automation.models import Rule
from historian.quality import Quality
from tests.factories import TagFactory

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

# (first second, last second, value): one sample a second. Above 9 for 30 s fires; cooldown 300 s.
EPISODES = [(0, 99, 5.0), (100, 159, 10.0), (160, 199, 5.0), (200, 219, 10.0), (220, 299, 5.0), (300, 400, 10.0),
            (401, 499, 5.0), (500, 560, 10.0), (561, 699, 5.0), (700, 740, 10.0), (741, 899, 5.0),
            (900, 950, 11.0), (951, 999, 5.0)]  # fmt: skip
BAD_AT = 515  # a bad-quality sample in the 500..560 episode: the hold starts again at 516
# By hand: 100..159 holds from 100, 30 s at 130 -> fires (10.0). 200..219: 20 s, no. 300..400: 30 s at 330, but
# 330 - 130 < 300 (cooldown): not fired. 500..560: bad at 515, holds again from 516, 30 s at 546, 546 - 130 >= 300:
# fires. 700..740: 730 - 546 < 300: not fired. 900..950: 930 - 546 >= 300: fires (11.0).
EXPECTED = [(130, 10.0, 100), (546, 10.0, 516), (930, 11.0, 900)]


def engineered_samples() -> list[tuple]:
    samples = []
    for first, last, value in EPISODES:
        for s in range(first, last + 1):
            quality = Quality.BAD if s == BAD_AT else Quality.GOOD
            samples.append((T0 + timedelta(seconds=s), value, quality))
    return samples


@pytest.fixture
def vibration(db):
    return TagFactory(name="vibration_rms")


@pytest.fixture
def route(db):
    return NotificationRoute.objects.create(name="Maintenance", channel=Channel.WEBHOOK, target="http://127.0.0.1:9/")


@pytest.fixture
def vibration_rule(vibration, route) -> Rule:
    return Rule.objects.create(
        name="Vibration high",
        enabled=True,
        dry_run=True,
        cooldown_seconds=300,
        condition={"type": "tag", "tag": vibration.path, "comparison": ">", "value": 9.0, "for_seconds": 30},
        actions=[{"type": "notify", "route": route.name, "message": "Spindle vibration high"}],
        version=1,
    )


@pytest.fixture
def admin(db):
    from accounts.services.roles import Role
    from tests.factories import UserFactory

    return UserFactory(username="admin", role=Role.ADMINISTRATOR)
