"""The backtest page: a rule over a chosen range of history, its firings on a timeline and listed."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.http import AuthenticatedHttpRequest
from automation.models import Rule
from automation.queries.access import PERM_BACKTEST, rule_may_backtest
from automation.queries.backtest import rule_backtest
from automation.specs import TagCondition, site_timezone
from historian.queries.errors import HistoryQueryError

PLOTLY_CSP = {"script-src": ["'unsafe-eval'"]}
DEFAULT_RANGE = timedelta(days=1)


def _local(text: str | None, zone: ZoneInfo, default: datetime) -> datetime:
    if not text:
        return default
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


@login_required
@permission_required(PERM_BACKTEST, raise_exception=True)
@require_GET
def backtest(request: AuthenticatedHttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=rule_id)
    try:
        allowed = rule_may_backtest(user=request.user, rule=rule)
    except ValidationError:
        allowed = request.user.has_perm("historian.operate_any_area")  # an invalid rule: administrators see why
    if not allowed:
        raise PermissionDenied("You may not backtest this rule.")
    zone = ZoneInfo(site_timezone())
    now = timezone.now().astimezone(zone).replace(second=0, microsecond=0)
    error = ""
    result = None
    try:
        start = _local(request.GET.get("start"), zone, now - DEFAULT_RANGE)
        end = _local(request.GET.get("end"), zone, now)
        result = rule_backtest(rule=rule, start=start, end=end)
    except (
        ValueError
    ) as exc:  # a bad date, a reversed or too long range, a condition without history (BacktestUnsupported)
        error = str(exc)
        start, end = now - DEFAULT_RANGE, now
    except (ValidationError, HistoryQueryError) as exc:
        error = "; ".join(getattr(exc, "messages", [str(exc)]))
        start, end = now - DEFAULT_RANGE, now
    firings = [
        {"time": f.time.astimezone(zone).isoformat(), "values": f.values} for f in (result.firings if result else [])
    ]
    condition = result.rule.condition if result else None
    chart = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "firings": firings,
        "threshold": condition.threshold if isinstance(condition, TagCondition) else None,
        "tag": condition.tag_path if isinstance(condition, TagCondition) else "",
    }
    response = render(
        request,
        "automation/backtest.html",
        {
            "rule": rule,
            "start": start.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
            "end": end.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
            "zone": zone.key,
            "error": error,
            "result": result,
            "firings": firings,
            "chart": chart,
        },
    )
    response.csp_extra = PLOTLY_CSP  # type: ignore[attr-defined]
    return response
