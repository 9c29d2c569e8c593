"""The permission matrix: every URL pattern and WebSocket route of the project x every role -> allowed or not.

The endpoints are read from the URL conf and the WebSocket routing, so a new one fails these tests until it is
declared below with what each role may do. Outcomes: ALLOW (any answer but a refusal: 200, a redirect elsewhere,
a 404 for an object that does not exist), LOGIN (redirected to a login page), DENY (401 or 403).
"""

from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.services.roles import Role
from historian.models import Tag
from tests.factories import TagFactory, UserFactory

ALLOW, LOGIN, DENY = "allow", "login", "deny"
ANONYMOUS = "anonymous"
ROLES = (ANONYMOUS, Role.OPERATOR, Role.ENGINEER, Role.ADMINISTRATOR)


@dataclass(frozen=True)
class Endpoint:
    """Expected outcome for anonymous, operator, engineer, administrator (in that order), and for a wall screen:
    `wall`, where it differs from the operator's (a wall screen views what an operator views and acts on nothing)."""

    expected: tuple[str, str, str, str]
    method: str = "get"
    kwargs: dict[str, Any] = field(default_factory=dict)  # values: literals, or "<name>" from the world fixture
    query: dict[str, str] = field(default_factory=dict)
    wall: str | None = None

    def outcome(self, role: str) -> str:
        if role == Role.WALL_SCREEN:
            return self.wall or self.expected[1]
        return self.expected[ROLES.index(role)]


PLANT = Endpoint((LOGIN, ALLOW, ALLOW, ALLOW))  # a plant-floor page: historian.view_plant
ALARMS = Endpoint((LOGIN, ALLOW, ALLOW, ALLOW))  # alarms.view_alarm
EXPORT = Endpoint((LOGIN, DENY, ALLOW, ALLOW))  # historian.export_data
TOKENS = Endpoint((LOGIN, DENY, ALLOW, ALLOW))  # accounts.manage_api_tokens
API_PLANT = Endpoint((DENY, ALLOW, ALLOW, ALLOW))
API_ALARMS = Endpoint((DENY, ALLOW, ALLOW, ALLOW))
API_EXPORT = Endpoint((DENY, DENY, ALLOW, ALLOW))
API_DOCS = Endpoint((DENY, ALLOW, ALLOW, ALLOW))
ADMIN_ONLY = Endpoint((LOGIN, LOGIN, LOGIN, ALLOW))  # admin pages: staff only, and staff are administrators
EVERYONE = Endpoint((ALLOW, ALLOW, ALLOW, ALLOW))

ENDPOINTS: dict[str, Endpoint] = {
    "login": Endpoint((ALLOW, ALLOW, ALLOW, ALLOW)),
    # Operations (operations/): probes answer everyone, signed in or not (load balancers carry no session); the
    # test settings leave the acquisition worker out of /readyz's verdict (no worker runs here). /metrics is
    # guarded by token or address, not by role: the test client comes from loopback, which is allowed by default
    # (tests/operations/test_views.py refuses other addresses and proxied requests).
    "healthz": EVERYONE,
    "readyz": EVERYONE,
    "metrics": EVERYONE,
    "logout": Endpoint((LOGIN, LOGIN, LOGIN, LOGIN), method="post"),  # signs out, then to the login page
    # The header's theme switch: every signed-in user chooses their own (here no theme posted: a 400, an answer)
    "theme_set": Endpoint((LOGIN, ALLOW, ALLOW, ALLOW), method="post"),
    # The header's language and time zone switches, the same (an empty post: back to the browser's language, the
    # plant's zone). The scripts' translations (/jsi18n/) are served to everyone: the sign-in page needs them.
    "language_set": Endpoint((LOGIN, ALLOW, ALLOW, ALLOW), method="post"),
    "time_zone_set": Endpoint((LOGIN, ALLOW, ALLOW, ALLOW), method="post"),
    "javascript_catalog": EVERYONE,
    # OpenID Connect sign-in: open to everyone, as the login page is (here not configured: a 404 for all).
    "oidc_authentication_init": EVERYONE,
    "oidc_authentication_callback": EVERYONE,
    # Plant floor
    "dashboards:plant_overview": PLANT,
    "dashboards:machine": Endpoint(PLANT.expected, kwargs={"machine_id": "<machine>"}),
    "dashboards:machine_history": Endpoint(PLANT.expected, kwargs={"machine_id": "<machine>"}),
    "dashboards:explorer": Endpoint((LOGIN, DENY, ALLOW, ALLOW)),  # historian.use_trend_explorer
    "dashboards:kiosk": PLANT,  # the wall screen: historian.view_plant (the Wall screen role holds it)
    # Production: plant-floor pages (classifying goes through the page socket, checked per area)
    "production:line_downtime": Endpoint(PLANT.expected, kwargs={"line_id": "<line>"}),
    "production:machine_timeline": Endpoint(PLANT.expected, kwargs={"machine_id": "<machine>"}),
    "production:line_oee": Endpoint(PLANT.expected, kwargs={"line_id": "<line>"}),
    "production:line_pareto": Endpoint(PLANT.expected, kwargs={"line_id": "<line>"}),
    # A line's reports: listed, generated on demand (an empty form: the page again), downloaded
    "production:line_reports": Endpoint(PLANT.expected, kwargs={"line_id": "<line>"}),
    # (production.request_shift_report: operators and up; a wall screen only views)
    "production:line_report_create": Endpoint(PLANT.expected, method="post", kwargs={"line_id": "<line>"}, wall=DENY),
    "production:line_report_download": Endpoint(
        PLANT.expected, kwargs={"line_id": "<line>", "report_id": 999_999, "kind": "pdf"}
    ),
    # Maintenance: plant-floor pages; acting on a request is checked per area by the services (tests/maintenance)
    "maintenance:health_overview": PLANT,
    "maintenance:machine_health": Endpoint(PLANT.expected, kwargs={"machine_id": "<machine>"}),
    "maintenance:requests": PLANT,
    "maintenance:request_detail": Endpoint(PLANT.expected, kwargs={"request_id": 999_999}),
    "maintenance:request_action": Endpoint(PLANT.expected, method="post", kwargs={"request_id": 999_999}),
    # Alarms
    "alarms:list": ALARMS,
    # One alarm; a security alarm is a 404 without alarms.view_security_alarms (tests/alarms/services/test_security)
    "alarms:detail": Endpoint(ALARMS.expected, kwargs={"alarm_id": 999_999}),
    "alarms:history": ALARMS,
    "alarms:history_csv": EXPORT,
    "alarms:kpi": ALARMS,
    # OT asset inventory: engineers and administrators
    "inventory:assets": Endpoint((LOGIN, DENY, ALLOW, ALLOW)),
    # API tokens (pages) and the REST API
    "tokens:list": TOKENS,
    "tokens:revoke": Endpoint(TOKENS.expected, method="post", kwargs={"token_id": 999_999}),
    "api:schema": API_DOCS,
    "api:docs": API_DOCS,
    "api:redoc": API_DOCS,
    "api:hierarchy": API_PLANT,
    "api:tags": API_PLANT,
    "api:tag": Endpoint(API_PLANT.expected, kwargs={"pk": "<tag>"}),
    # Writes: any signed-in user may ask, the write service refuses whoever may not operate in the tag's area (the
    # world's tag is read-only: the administrator, who may operate everywhere, is refused by the policy: a 409).
    "api:tag_write": Endpoint((DENY, DENY, DENY, ALLOW), method="post", kwargs={"pk": "<tag>"}, query={"value": "1"}),
    "api:tag_writes": Endpoint(API_PLANT.expected, kwargs={"pk": "<tag>"}),
    # No such write waiting: a 404 for every signed-in user (who may confirm or approve: tests/api/test_views_writes)
    "api:write_confirm": Endpoint((DENY, ALLOW, ALLOW, ALLOW), method="post", query={"token": "nothing"}),
    "api:write_approve": Endpoint((DENY, ALLOW, ALLOW, ALLOW), method="post", kwargs={"request_id": 999_999}),
    "api:current_values": API_PLANT,
    "api:history_raw": API_PLANT,
    "api:history_interpolated": API_PLANT,
    "api:history_aggregates": API_PLANT,
    "api:history_plot": API_PLANT,
    "api:history_export": API_EXPORT,
    "api:alarms": API_ALARMS,
    "api:journal": API_ALARMS,
    "api:devices": API_PLANT,
    "api:assets": API_EXPORT,  # inventory.view_asset: engineers and administrators
    "api:asset_changes": Endpoint(API_EXPORT.expected, kwargs={"asset_id": 999_999}),
    "api:production_kpis": API_PLANT,
    "api:production_pareto": API_PLANT,
    "api:production_intervals": API_PLANT,
    "api:production_downtime": API_PLANT,
    "api:production_export": API_EXPORT,
    "api:maintenance_requests": API_PLANT,
    "api:maintenance_request": Endpoint(API_PLANT.expected, kwargs={"pk": 999_999}),
    # Writes (open, change, comment): the services check the area per request (tests/api/test_views_maintenance_writes)
    "api:maintenance_request_comments": Endpoint(API_PLANT.expected, method="post", kwargs={"pk": 999_999}),
    "api:maintenance_requests_export": API_EXPORT,
    # Rules: backtesting needs automation.backtest_rule (engineers, administrators), then operating the rule's areas
    "automation:backtest": Endpoint((LOGIN, DENY, ALLOW, ALLOW), kwargs={"rule_id": "<automation.rule>"}),
    # Whatever else is under /api/: a JSON 404 for everyone (an answer, not a refusal).
    "api:not_found": Endpoint((ALLOW, ALLOW, ALLOW, ALLOW), kwargs={"path": "v1/nothing-here/"}),
    # Admin, apart from the model pages (ADMIN_MODELS)
    "admin:index": ADMIN_ONLY,
    "admin:login": EVERYONE,
    # Non-staff are sent to the admin index; staff are signed out and sent to the login page.
    "admin:logout": Endpoint((ALLOW, ALLOW, ALLOW, LOGIN), method="post"),
    "admin:password_change": ADMIN_ONLY,
    "admin:password_change_done": ADMIN_ONLY,
    "admin:jsi18n": ADMIN_ONLY,
    "admin:autocomplete": Endpoint(
        ADMIN_ONLY.expected, query={"app_label": "historian", "model_name": "tag", "field_name": "machine"}
    ),
    "admin:app_list": Endpoint(ADMIN_ONLY.expected, kwargs={"app_label": "historian"}),
    "admin:view_on_site": Endpoint(ADMIN_ONLY.expected, kwargs={"content_type_id": "<tag_ct>", "object_id": "<tag>"}),
    "admin:historian_device_opcua_browse": Endpoint(ADMIN_ONLY.expected, kwargs={"object_id": "<historian.device>"}),
    "admin:historian_device_opcua_client_certificate": Endpoint(
        ADMIN_ONLY.expected, kwargs={"object_id": "<historian.device>"}
    ),
    "admin:historian_tag_export_csv": ADMIN_ONLY,
    "admin:automation_rule_import": ADMIN_ONLY,
    "admin:historian_tag_import": ADMIN_ONLY,
    "admin:historian_tag_import_job": Endpoint((LOGIN, LOGIN, LOGIN, ALLOW), kwargs={"job_id": "<import_job>"}),
    "admin:historian_tag_import_status": Endpoint((LOGIN, LOGIN, LOGIN, ALLOW), kwargs={"job_id": "<import_job>"}),
    "admin:historian_tag_import_apply": Endpoint(
        (LOGIN, LOGIN, LOGIN, ALLOW), method="post", kwargs={"job_id": "<import_job>"}
    ),
    "admin:audit_auditevent_export_csv": ADMIN_ONLY,
    "admin:auditlog_logentry_export_csv": ADMIN_ONLY,
    "admin:auth_user_password_change": Endpoint(ADMIN_ONLY.expected, kwargs={"id": "<user>"}),
}

# What an administrator may do with each model in admin: view, add, change, delete. Nobody else reaches admin.
ADMIN_MODELS: dict[str, str] = {
    "historian.site": "vacd",
    "historian.area": "vacd",
    "historian.line": "vacd",
    "historian.machine": "vacd",
    "historian.device": "vacd",
    "historian.scanclass": "vacd",
    "historian.tag": "vacd",
    "historian.writepolicy": "vacd",
    "historian.operatearea": "vacd",
    "historian.edgepublication": "vacd",
    "api.apitoken": "vc",  # the write scope is given here; tokens are made and revoked by their owners
    "historian.historiansettings": "vc",  # one row, never added or deleted
    "historian.discoveredmetric": "vcd",
    "historian.valuelabelset": "vacd",  # Sparkplug metrics come from births, never added by hand
    "alarms.alarmdefinition": "vacd",
    "alarms.notificationroute": "vacd",
    "alarms.alarm": "v",  # runtime state: written by the evaluation and the operators' actions
    "alarms.notificationdelivery": "vcd",  # written by the notifier
    "auth.user": "vac",  # accounts are deactivated, not deleted: the audit trail names them
    "auth.group": "v",  # the roles are defined in code (accounts/services/roles.py)
    "audit.auditevent": "v",  # append-only
    "auditlog.logentry": "v",  # append-only
    "axes.accessattempt": "vd",  # sign-in lockouts: deleting one unlocks
    "axes.accessfailurelog": "v",
    "axes.accesslog": "v",
    "inventory.asset": "vd",  # observed, never typed in; a stale asset may be deleted
    "inventory.assetchange": "v",  # the record of what changed
    "production.machineproduction": "vacd",
    "production.product": "vacd",
    "production.shiftcalendar": "vacd",
    "production.shiftpattern": "vacd",
    "production.downtimecategory": "vacd",
    "production.downtimereason": "vacd",
    "production.faultcode": "vacd",
    "production.stateinterval": "v",  # derived from history; classified through the audited downtime services
    "production.downtimearea": "vacd",
    "production.shiftreport": "vd",  # generated by the beat task or the reports page, never edited
    "production.shiftreportrecipient": "vacd",  # which areas operators classify stops in: managed with the people
    "automation.rule": "vacd",  # each save a new version (kept, read-only, under the rule)
    "automation.rulefiring": "v",  # the journal: written by the evaluations
    "maintenance.healthmodel": "vacd",
    "maintenance.healthmodelversion": "vd",  # made by the audited fit service, never typed in
    "maintenance.maintenancerequest": "vcd",  # changed through the audited request services (page, API)
    "maintenance.maintenancearea": "vacd",  # which areas people work on requests in: managed with the people
}
ADMIN_MODEL_VIEWS = {"changelist": "v", "add": "a", "change": "vc", "delete": "d", "history": "vc"}

WEBSOCKETS: dict[str, tuple[str, str, str, str]] = {
    "ws/page/": (DENY, ALLOW, ALLOW, ALLOW),
    "ws/live/": (DENY, ALLOW, ALLOW, ALLOW),
    "ws/alarms/": (DENY, ALLOW, ALLOW, ALLOW),
}


def _walk(patterns: list, namespace: str = "") -> list[tuple[str, str]]:
    """(name, route) of every URL pattern, names with their namespaces ("" for an unnamed pattern)."""
    found = []
    for p in patterns:
        if isinstance(p, URLResolver):
            found += _walk(p.url_patterns, f"{namespace}{p.namespace}:" if p.namespace else namespace)
        elif isinstance(p, URLPattern):
            if not p.name and namespace == "admin:":
                continue  # Django's redirects to a change page and its catch-all: they only redirect
            found.append((f"{namespace}{p.name}" if p.name else "", str(p.pattern)))
    return found


def _admin_model_endpoint(name: str) -> Endpoint | None:
    """admin:<app>_<model>_<view> of a registered model, from ADMIN_MODELS."""
    for model in admin.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        view = name.removeprefix(prefix)
        if name.startswith(prefix) and view in ADMIN_MODEL_VIEWS:
            rights = ADMIN_MODELS.get(model._meta.label_lower)
            if rights is None:
                return None
            allowed = any(r in rights for r in ADMIN_MODEL_VIEWS[view])
            kwargs = {"object_id": f"<{model._meta.label_lower}>"} if view in ("change", "delete", "history") else {}
            return Endpoint((LOGIN, LOGIN, LOGIN, ALLOW if allowed else DENY), kwargs=kwargs)
    return None


def _declared(name: str) -> Endpoint | None:
    return ENDPOINTS.get(name) or _admin_model_endpoint(name)


def test_every_url_pattern_is_declared_in_the_matrix():
    patterns = _walk(get_resolver().url_patterns)
    unnamed = [route for name, route in patterns if not name]
    undeclared = [name for name, _ in patterns if name and _declared(name) is None]
    unregistered = sorted({f"{m._meta.label_lower}" for m in admin.site._registry} - set(ADMIN_MODELS))
    stale = sorted(set(ENDPOINTS) - {name for name, _ in patterns})

    assert not unnamed, f"Name these URL patterns so the permission matrix can declare them: {unnamed}"
    assert not unregistered, f"New admin models: add them to ADMIN_MODELS in {__file__}: {unregistered}"
    assert not undeclared, (
        f"New endpoints: add them to ENDPOINTS in {__file__} with what each role may do: {undeclared}"
    )
    assert not stale, f"Declared endpoints that no longer exist: remove them from ENDPOINTS: {stale}"


@pytest.fixture
def world(db):
    from django.contrib.contenttypes.models import ContentType

    from historian.services.tag_import_jobs import tag_import_job_start

    tag = TagFactory()
    machine = tag.machine
    users = {role: UserFactory(username=role.value.lower(), role=role) for role in Role}
    values: dict[str, Any] = {
        "machine": machine.pk,
        "line": machine.line_id,
        "tag": tag.pk,
        "tag_ct": ContentType.objects.get_for_model(Tag).pk,
        "user": users[Role.OPERATOR].pk,
        # Belongs to the administrator: the others are refused before they could see it.
        "import_job": tag_import_job_start(
            content=b"", filename="x.csv", dry_run=True, actor_id=users[Role.ADMINISTRATOR].pk
        ),
    }
    for model in admin.site._registry:
        obj = model._default_manager.order_by("pk").first()
        values[model._meta.label_lower] = obj.pk if obj is not None else 0
    return users, values


def _outcome(response) -> str:
    if response.status_code in (301, 302) and response["Location"].split("?")[0] in ("/login/", "/admin/login/"):
        return LOGIN
    if response.status_code in (401, 403):
        return DENY
    return ALLOW if response.status_code < 500 else "server error"


def _url(name: str, endpoint: Endpoint, values: dict[str, Any]) -> str:
    kwargs = {k: values[v[1:-1]] if isinstance(v, str) and v.startswith("<") else v for k, v in endpoint.kwargs.items()}
    return reverse(name, kwargs=kwargs)


def test_every_role_gets_what_the_matrix_says_on_every_endpoint(client, world):
    users, values = world
    client.raise_request_exception = False  # a crash is reported in the table with the rest
    names = [name for name, _ in _walk(get_resolver().url_patterns) if name and _declared(name)]
    wrong = []
    for role in (*ROLES, Role.WALL_SCREEN):
        for name in names:
            endpoint = _declared(name)
            client.logout()
            if role != ANONYMOUS:
                client.force_login(users[role])
            response = getattr(client, endpoint.method)(_url(name, endpoint, values), endpoint.query)
            got, expected = _outcome(response), endpoint.outcome(role)
            if got != expected:
                wrong.append(f"{name} as {role}: {got} ({response.status_code}), expected {expected}")
    assert not wrong, "The permission matrix does not hold:\n" + "\n".join(wrong)


# Refused to everyone, superusers included: the audit trail is append-only, the historian settings are one row,
# sign-in attempts are recorded, never typed in.
REFUSED_TO_ALL = {
    "admin:audit_auditevent_add",
    "admin:audit_auditevent_delete",
    "admin:auditlog_logentry_add",
    "admin:auditlog_logentry_delete",
    "admin:alarms_alarm_add",
    "admin:alarms_alarm_delete",
    "admin:alarms_notificationdelivery_add",
    "admin:historian_historiansettings_add",
    "admin:historian_historiansettings_delete",
    "admin:historian_discoveredmetric_add",
    # State intervals are derived from history; people classify them through the audited downtime services.
    "admin:production_stateinterval_add",
    "admin:production_stateinterval_delete",
    # Shift reports are generated (the beat task, the line's reports page), never typed in.
    "admin:production_shiftreport_add",
    # Health model fits come from the fit service; work requests from their page, the API or the health monitor.
    "admin:maintenance_healthmodelversion_add",
    "admin:maintenance_maintenancerequest_add",
    # Sign-in attempts come from sign-ins only (django-axes' admin allows no adding).
    "admin:axes_accessattempt_add",
    "admin:axes_accesslog_add",
    "admin:axes_accessfailurelog_add",
    # API tokens are made and revoked by their owners (admin gives or takes the write scope).
    "admin:api_apitoken_add",
    "admin:api_apitoken_delete",
    # The asset inventory is observed from the network, never typed in.
    "admin:inventory_asset_add",
    "admin:inventory_assetchange_add",
    "admin:inventory_assetchange_delete",
    # The rules' journal is written by the evaluations, never typed in nor deleted.
    "admin:automation_rulefiring_add",
    "admin:automation_rulefiring_change",
    "admin:automation_rulefiring_delete",
}


def test_a_superuser_passes_every_permission_check(client, world):
    _, values = world
    client.raise_request_exception = False
    client.force_login(UserFactory(superuser=True))
    refused = []
    for name, _ in _walk(get_resolver().url_patterns):
        endpoint = _declared(name)
        if endpoint is None or name in ("logout", "admin:logout") or name in REFUSED_TO_ALL:
            continue
        response = getattr(client, endpoint.method)(_url(name, endpoint, values), endpoint.query)
        if _outcome(response) != ALLOW:
            refused.append(f"{name}: {response.status_code}")
    assert not refused


def _websocket_routes() -> list[str]:
    from config.routing import websocket_urlpatterns

    return [str(p.pattern) for p in websocket_urlpatterns]


def test_every_websocket_route_is_declared_in_the_matrix():
    undeclared = sorted(set(_websocket_routes()) - set(WEBSOCKETS))
    assert not undeclared, f"New WebSocket routes: add them to WEBSOCKETS in {__file__}: {undeclared}"


@pytest.mark.django_db(transaction=True)
def test_every_role_gets_what_the_matrix_says_on_every_websocket():
    from config.routing import websocket_urlpatterns

    users = {role: UserFactory(username=role.value.lower(), role=role) for role in Role}
    wrong = []
    for route in _websocket_routes():
        # A wall screen opens the pages' sockets as an operator does (what it may do on them: the consumers' tests).
        for role, expected in (*zip(ROLES, WEBSOCKETS[route], strict=True), (Role.WALL_SCREEN, WEBSOCKETS[route][1])):

            async def connect(route=route, role=role) -> bool:
                communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/{route}")
                communicator.scope["user"] = AnonymousUser() if role == ANONYMOUS else users[role]
                connected, _ = await communicator.connect()
                # A refused user is accepted then closed (4401 / 4403), so that the page learns why. A frame is
                # handled only once `connect` has returned, and every consumer answers one: the first output after
                # the accept is the close of a refused user, else a message of an admitted one.
                if connected:
                    await communicator.send_to(text_data="not json")
                    output = await communicator.receive_output(timeout=5)
                    connected = output["type"] != "websocket.close"
                await communicator.disconnect()
                return connected

            got = ALLOW if async_to_sync(connect)() else DENY
            if got != expected:
                wrong.append(f"{route} as {role}: {got}, expected {expected}")
    assert not wrong, "The WebSocket permission matrix does not hold:\n" + "\n".join(wrong)
