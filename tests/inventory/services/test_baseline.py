"""Which changes of the OPC UA endpoints a server offers count as weaker security, and how they are recorded."""

from datetime import UTC, datetime, timedelta

import pytest

from inventory.models import AssetChange
from inventory.services.assets import asset_observe
from inventory.services.baseline import asset_endpoints_observe, endpoints_weakened

URL = "opc.tcp://plc:4840/"
T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def _e(mode: str, policy: str) -> dict[str, str]:
    return {"url": URL, "mode": mode, "policy": policy}


SECURE = [_e("SignAndEncrypt", "Basic256Sha256")]


@pytest.mark.parametrize(
    ("after", "why"),
    [
        ([*SECURE, _e("None", "None")], "new endpoint with security mode None"),
        ([*SECURE, _e("Sign", "Basic256Sha256")], "new endpoint with security mode Sign"),
        ([*SECURE, _e("SignAndEncrypt", "Basic128Rsa15")], "new endpoint with the weaker policy Basic128Rsa15"),
        ([_e("SignAndEncrypt", "Basic256")], "the strongest security offered before is gone"),
    ],
)
def test_weaker_offers_are_named(after, why):
    reasons = endpoints_weakened(SECURE, after)

    assert any(why in reason for reason in reasons), reasons


@pytest.mark.parametrize(
    "after",
    [
        SECURE,
        [*SECURE, _e("SignAndEncrypt", "Aes256_Sha256_RsaPss")],  # a stronger one added
        [_e("SignAndEncrypt", "Basic256Sha256")],
    ],
)
def test_the_same_or_stronger_offers_are_not_weaker(after):
    assert endpoints_weakened(SECURE, after) == []


def test_dropping_a_weak_endpoint_is_not_weaker():
    assert endpoints_weakened([*SECURE, _e("None", "None")], SECURE) == []


@pytest.mark.django_db
def test_the_first_endpoints_are_the_baseline_and_a_weaker_set_is_reported_once_and_recorded():
    asset_observe(protocol="opcua", key=URL, observed_at=T0)

    first = asset_endpoints_observe(protocol="opcua", key=URL, endpoints=SECURE, observed_at=T0)
    weaker = [*SECURE, _e("None", "None")]
    second = asset_endpoints_observe(protocol="opcua", key=URL, endpoints=weaker, observed_at=T0 + timedelta(hours=1))
    third = asset_endpoints_observe(protocol="opcua", key=URL, endpoints=weaker, observed_at=T0 + timedelta(hours=2))

    assert (first.weakened, first.before) == ([], [])
    assert second.weakened == ["new endpoint with security mode None (policy None)"]
    assert second.before == SECURE
    assert third.weakened == []  # the new set is the baseline from now on
    change = AssetChange.objects.get(field="endpoints")
    assert change.before == "SignAndEncrypt Basic256Sha256"
    assert change.after == "None None; SignAndEncrypt Basic256Sha256"
    assert second.asset.endpoints == sorted(weaker, key=lambda e: sorted(e.items()))
