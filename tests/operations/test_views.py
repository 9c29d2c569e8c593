"""/healthz, /readyz and /metrics against the real database, Redis and channel layer: the probes' verdicts, and
who may read the metrics."""

from __future__ import annotations

import pytest

from common.net import free_port
from common.redis import redis_client
from ingest.acquisition.leases import DeviceLeases


def test_healthz_answers_without_the_database(client):  # no `db`: any query would raise
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert client.head("/healthz").status_code == 200  # load balancers probe with HEAD too


def test_probes_answer_whatever_host_they_are_addressed_to(client, db):
    response = client.get("/healthz", HTTP_HOST="10.42.0.7:8000")  # a pod's IP, not in ALLOWED_HOSTS

    assert response.status_code == 200


def test_readyz_checks_each_dependency_and_reports_the_acquisition_worker(client, db):
    response = client.get("/readyz")

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    for name in ("database", "redis", "channel_layer"):
        assert body["checks"][name]["ok"], body["checks"][name]
    assert body["checks"]["acquisition"]["required"] is False


def test_readyz_is_503_without_a_live_acquisition_worker_and_200_with_one(client, db, settings):
    settings.READYZ_REQUIRE_ACQUISITION = True
    redis_client().delete("ingest:pollers")

    refused = client.get("/readyz")
    assert refused.status_code == 503
    assert refused.json()["checks"]["acquisition"]["ok"] is False
    assert "no acquisition worker" in refused.json()["checks"]["acquisition"]["detail"]

    leases = DeviceLeases(redis_client(), owner="readyz-test-poller", ttl_seconds=30)
    leases.beat()
    try:
        ready = client.get("/readyz")
    finally:
        leases.release_all()
        redis_client().delete("ingest:poller:alive:readyz-test-poller")
        redis_client().zrem("ingest:pollers", "readyz-test-poller")

    assert ready.status_code == 200, ready.json()
    assert ready.json()["checks"]["acquisition"]["detail"] == "1 alive"


def test_readyz_is_503_when_redis_is_away(client, db, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True


def test_metrics_are_served_to_loopback(client, db):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"millwright_metrics_source_up" in response.content


@pytest.mark.parametrize(
    "headers",
    [
        {"REMOTE_ADDR": "10.1.2.3"},  # from elsewhere, no token
        {"HTTP_X_FORWARDED_FOR": "203.0.113.9"},  # relayed by the local reverse proxy
        {"REMOTE_ADDR": "10.1.2.3", "HTTP_AUTHORIZATION": "Bearer wrong"},
    ],
)
def test_metrics_are_refused_to_anyone_else(client, db, settings, headers):
    settings.METRICS_TOKEN = "s3cret-scrape-token"

    response = client.get("/metrics", **headers)

    assert response.status_code == 403
    assert b"millwright_" not in response.content


def test_metrics_are_served_to_the_token_holder_from_anywhere(client, db, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"

    response = client.get(
        "/metrics",
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_FORWARDED_FOR="10.9.9.9",
        HTTP_AUTHORIZATION="Bearer s3cret-scrape-token",
    )

    assert response.status_code == 200


def test_an_allowed_network_is_served_without_a_token(client, db, settings):
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16"]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics").status_code == 403  # loopback is no longer listed
