"""The backtest page: its firings listed and charted for whoever may operate the rule's areas; refused to others."""

from django.contrib.auth.models import Group

from accounts.services.roles import Role
from historian.models import OperateArea
from tests.automation.conftest import T0, engineered_samples
from tests.factories import UserFactory
from tests.samples import write as samples_write


def _url(rule) -> str:
    return f"/automation/rules/{rule.pk}/backtest/?start=2026-03-02T08:00:00%2B00:00&end=2026-03-02T09:00:00%2B00:00"


def test_the_backtest_page_lists_the_firings_for_an_administrator(vibration, vibration_rule, client, admin):
    samples_write(vibration, engineered_samples())
    client.force_login(admin)
    page = client.get(_url(vibration_rule))
    assert page.status_code == 200
    body = page.content.decode()
    assert "1000 values evaluated: it would have fired 3 times." in body
    assert page.context["firings"][0]["values"]["value"] == 10.0
    assert "backtest-data" in body
    assert T0.year == 2026


def test_an_engineer_backtests_only_rules_of_the_areas_they_operate(vibration, vibration_rule, client):
    engineer = UserFactory(username="eng", role=Role.ENGINEER)
    client.force_login(engineer)
    assert client.get(_url(vibration_rule)).status_code == 403
    group = Group.objects.create(name="Area operators")
    engineer.groups.add(group)
    OperateArea.objects.create(area=vibration.machine.line.area, group=group)
    assert client.get(_url(vibration_rule)).status_code == 200


def test_an_operator_may_not_backtest(vibration_rule, client):
    client.force_login(UserFactory(username="op", role=Role.OPERATOR))
    assert client.get(_url(vibration_rule)).status_code == 403
