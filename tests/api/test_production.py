"""The production endpoints: the KPIs, Pareto, intervals and stops of the engineered night shift (the figures of
production.queries, checked there against hand-computed ones), the CSV export, who may read what, and the schema."""

import csv
import io

import pytest

from accounts.services.roles import Role
from tests.production.engineered import APT, BREAKDOWN, END, PBT, UNCLASSIFIED, S

pytestmark = pytest.mark.timescale

ENDPOINTS = ["kpis/", "pareto/", "intervals/", "downtime/", "export.csv"]


def _granted(user, night):
    """The user may see (and classify) the night machine's area (production.DowntimeArea)."""
    from production.models import DowntimeArea

    DowntimeArea.objects.create(area=night.config.machine.line.area, user=user)
    return user


def _params(night, **extra) -> dict:
    return {"scope": "machine", "id": night.config.machine_id, "start": S.isoformat(), "end": END.isoformat(), **extra}


def test_kpis_of_a_machine_and_its_line_per_shift(night, api_as, make_user):
    client = api_as(_granted(make_user("olga", role=Role.OPERATOR), night))
    body = client.get("/api/v1/production/kpis/", _params(night)).json()
    assert body["kpis"]["planned_busy_time"] == PBT
    assert body["kpis"]["availability"] == pytest.approx(APT / PBT)
    assert body["machines"][str(night.config.machine_id)]["breakdowns"] == pytest.approx(BREAKDOWN)

    line_id = night.config.machine.line_id
    body = client.get(
        "/api/v1/production/kpis/", {**_params(night), "scope": "line", "id": line_id, "grain": "shift"}
    ).json()
    assert [p["label"] for p in body["periods"]] == ["2026-03-02 Night"]
    assert body["periods"][0]["kpis"]["oee"] == pytest.approx(body["kpis"]["oee"])


def test_pareto_intervals_and_stops(night, api_as, make_user):
    client = api_as(_granted(make_user("olga", role=Role.OPERATOR), night))
    pareto = client.get("/api/v1/production/pareto/", _params(night)).json()
    assert [(r["kind"], r["seconds"]) for r in pareto][:2] == [("reason", BREAKDOWN), ("unclassified", UNCLASSIFIED)]

    intervals = client.get("/api/v1/production/intervals/", _params(night)).json()
    assert intervals[0]["start"].startswith("2026-03-02T22:00")
    assert intervals[0]["state"] == "running"
    stops = client.get("/api/v1/production/downtime/", _params(night)).json()
    assert [(s["state"], s["seconds"], s["unclassified"]) for s in stops] == [
        ("setup", 240, False),
        ("unplanned_down", 600, True),
        ("planned_stop", 1800, False),
        ("idle", 60, False),
        ("unplanned_down", 1200, False),
    ]
    assert stops[-1]["reason"] == "Jam"
    assert stops[-1]["auto_classified"] is True


def test_csv_export_of_kpis_per_day_and_of_intervals(night, api_as, make_user):
    client = api_as(make_user("erin", role=Role.ENGINEER))
    response = client.get("/api/v1/production/export.csv", _params(night, kind="kpis", grain="day"))
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["period"] for r in rows] == ["2026-03-02", "2026-03-03"]
    assert sum(float(r["planned_busy_time"]) for r in rows) == PBT

    response = client.get("/api/v1/production/export.csv", _params(night, kind="intervals"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1]["state"] == "unplanned_down"
    assert rows[1]["reason"].endswith("/ Jam")


@pytest.mark.parametrize(
    ("role", "reads", "exports"),
    [(None, 403, 403), (Role.OPERATOR, 200, 403), (Role.ENGINEER, 200, 200), (Role.ADMINISTRATOR, 200, 200)],
)
def test_who_may_read_and_export(night, api_as, make_user, role, reads, exports):
    client = api_as(_granted(make_user("someone", role=role), night))
    for endpoint in ENDPOINTS:
        extra = {"kind": "kpis"} if endpoint == "export.csv" else {}
        status = client.get(f"/api/v1/production/{endpoint}", _params(night, **extra)).status_code
        assert status == (exports if endpoint == "export.csv" else reads), endpoint


def test_unknown_scope_and_bad_ranges_are_refused_saying_why(night, api):
    assert api.get("/api/v1/production/kpis/", {**_params(night), "id": 999999}).status_code == 404
    response = api.get("/api/v1/production/kpis/", {**_params(night), "end": S.isoformat()})
    assert response.status_code == 400
    assert "after start" in str(response.json())
    response = api.get(
        "/api/v1/production/kpis/", {"scope": "machine", "id": night.config.machine_id, "shift": "current"}
    )
    assert response.status_code == 400
    assert "line" in str(response.json())


def test_the_endpoints_are_in_the_schema(api):
    schema = api.get("/api/schema/?format=json").json()
    for endpoint in ENDPOINTS:
        assert f"/api/v1/production/{endpoint}" in schema["paths"]
    kpis = schema["components"]["schemas"]["Kpis"]["properties"]
    assert {"oee", "availability", "performance", "quality", "teep", "mtbf", "mttr", "losses"} <= set(kpis)


def test_anonymous_requests_are_refused(night, client):
    assert client.get("/api/v1/production/kpis/", _params(night)).status_code in (401, 403)


def test_a_user_sees_the_production_data_of_the_areas_granted_to_them_only(night, api_as, make_user):
    from production.models import DowntimeArea
    from tests.factories import AreaFactory

    area = night.config.machine.line.area
    elsewhere = AreaFactory(site=area.site, name="Packing")
    piotr = make_user("piotr", role=Role.OPERATOR)
    other = api_as(piotr)
    DowntimeArea.objects.create(area=elsewhere, user=piotr)  # granted another area, not the machine's
    line = night.config.machine.line_id
    for endpoint in ENDPOINTS:
        extra = {"kind": "kpis"} if endpoint == "export.csv" else {}
        for scope, id_ in (("machine", night.config.machine_id), ("line", line), ("area", area.pk)):
            response = other.get(f"/api/v1/production/{endpoint}", _params(night, scope=scope, id=id_, **extra))
            assert response.status_code == 403, (endpoint, scope)
    assert "not granted" in str(other.get("/api/v1/production/kpis/", _params(night)).json())
    assert other.get("/api/v1/production/kpis/", _params(night, scope="area", id=elsewhere.pk)).status_code == 200

    # A site is seen whole or not at all: one area of two granted is not enough; both are.
    site = _params(night, scope="site", id=area.site_id)
    assert other.get("/api/v1/production/kpis/", site).status_code == 403
    DowntimeArea.objects.create(area=area, user=piotr)
    assert other.get("/api/v1/production/kpis/", site).status_code == 200
    # An engineer (production.classify_downtime_any_area) sees every area without a grant.
    engineer = api_as(make_user("erin", role=Role.ENGINEER))
    assert engineer.get("/api/v1/production/intervals/", _params(night)).status_code == 200
