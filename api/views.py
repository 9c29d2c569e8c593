"""The REST API. Thin: a serializer validates the parameters, historian.queries answers, the result is shaped here.

History times in JSON are epoch milliseconds in columns (t, v, q per tag): compact, and what charts take.
"""

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user, get_user_model
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alarms.models import AlarmCategory, JournalEntry
from alarms.queries.alarm_list import alarm_rows
from alarms.services.actions import may_see_security
from api import csv_export
from api import serializers as s
from api.models import ApiToken
from api.permissions import EXPORT_DATA, VIEW_ALARMS, VIEW_PLANT, has_perm
from common.replicas import replica_iterate, replica_reads, replica_view
from historian.addresses import TEXT_DATA_TYPES
from historian.models import Machine, Tag
from historian.queries.aggregates import AggregateInterval, aggregate_values
from historian.queries.catalog import devices_by_name, hierarchy_tree, tags_find
from historian.queries.export import (
    aggregate_export_check,
    aggregate_export_chunks,
    raw_export_check,
    raw_export_chunks,
)
from historian.queries.history import current_values
from historian.queries.interpolated import interpolated_values
from historian.queries.plot import plot_values
from historian.queries.raw import RawValues, raw_values
from historian.queries.resolution import RESOLUTIONS
from historian.queries.writes import tag_writes_recent, write_request_awaiting_approval, write_request_row
from ingest.services.writes import (
    WriteResult,
    WriteRule,
    WriteState,
    tag_write_approve,
    tag_write_confirm,
    tag_write_refuse,
    tag_write_request_by_id,
)
from inventory.queries import asset_changes, asset_exists, assets_with_recent_changes
from maintenance.queries.requests import requests_list
from maintenance.services.requests import (
    RequestError,
    request_assign,
    request_close,
    request_comment,
    request_open,
    request_plan,
)
from production.models import MachineState
from production.queries.intervals import intervals_in_range, reason_required_seconds, stops_in_range
from production.queries.kpis import (
    Grain,
    Scope,
    ScopeKind,
    ShiftKpis,
    kpis_dict,
    kpis_total,
    line_shift_kpis,
    loss_pareto,
    machines_kpis,
    scope_exists,
    scope_kpis,
    scope_kpis_series,
    scope_machine_ids,
    scope_visible,
)

MAX_EXPORT_TAGS = 1000
_RESOLUTIONS = {r.name: r for r in RESOLUTIONS}
_ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="Bad parameters, or a result too large to send"),
    404: OpenApiResponse(s.ErrorSerializer, description="A tag id, or the machine, does not exist"),
}
_PAGE_ERRORS = {
    400: _ERRORS[400],
    404: OpenApiResponse(s.ErrorSerializer, description="No such page"),
}


def _ms(moment: datetime) -> float:
    return round(moment.timestamp() * 1000, 3)


def _params(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _tags(params: dict, *, limit: int = s.MAX_TAGS_PER_REQUEST, numeric: bool = False) -> list[Tag]:
    """The tags named by `tags` and/or `machine`, in that order; an unknown tag id or machine is a 404 (the
    request is well formed, what it names does not exist), naming the ids.

    `numeric`: for reads that compute with values, a machine's string tags are left out (a string tag named in
    `tags` is refused by the query, with the reason).
    """
    ids = list(params.get("tags", []))
    if "machine" in params:
        of_machine = tags_find(machine_id=params["machine"])
        if numeric:
            of_machine = of_machine.exclude(data_type__in=TEXT_DATA_TYPES)
        machine_ids = list(of_machine.order_by("pk").values_list("pk", flat=True))
        if not machine_ids:
            kind = "numeric tags" if numeric else "tags"
            raise NotFound(f"No machine {params['machine']}, or it has no {kind}.")
        ids += [i for i in machine_ids if i not in ids]
    if len(ids) > limit:
        raise ValidationError({"tags": f"{len(ids)} tags: at most {limit} per request."})
    found = tags_find(ids=ids).prefetch_related("value_labels__entries").in_bulk()
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"Unknown tag ids: {', '.join(map(str, missing[:10]))}.")
    return [found[i] for i in ids]


def _series(tag: Tag, points) -> dict:
    return {
        "id": tag.pk,
        "path": tag.path,
        "units": tag.units,
        "t": [_ms(p.time) for p in points],
        "v": [p.value for p in points],
        "q": [p.quality for p in points],
    }


def _labelled(tag: Tag, row: dict) -> dict:
    """A raw series with each value's label beside it (`label`), where the tag has a value label set."""
    if tag.value_labels is not None:
        row["label"] = [tag.value_label(v) for v in row["v"]]
    return row


def _point(tag: Tag, point) -> dict | None:
    if point is None:
        return None
    row = {"t": _ms(point.time), "v": point.value, "q": point.quality}
    if tag.value_labels is not None:
        row["label"] = tag.value_label(point.value)
    return row


def _nonempty_end(params: dict) -> datetime:
    """The queries want end > start; an empty range (start == end) reads [start, start + 1 µs) and is emptied by
    `_emptied`: the narrowest range that still finds the samples on either side."""
    return params["end"] if params["end"] > params["start"] else params["start"] + timedelta(microseconds=1)


def _emptied(values: RawValues) -> RawValues:
    """Raw values of [start, start + 1 µs) as those of the empty range [start, start): a sample at start is the
    oldest at or after end."""
    return values._replace(points=[], after=values.points[0] if values.points else values.after)


def _limit(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise ValidationError(f"{count} {what}: at most {limit} in one response. {s.TOO_LARGE_HINT}")


class HierarchyView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(responses=s.SiteNodeSerializer(many=True), summary="The Site/Area/Line/Machine tree")
    def get(self, request: Request) -> Response:
        return Response(hierarchy_tree())


class TagListView(generics.ListAPIView):
    permission_classes = [has_perm(VIEW_PLANT)]
    serializer_class = s.TagSerializer

    def get_queryset(self):
        params = _params(s.TagFilterSerializer, self.request)
        return tags_find(
            search=params.get("search", ""),
            site_id=params.get("site"),
            area_id=params.get("area"),
            line_id=params.get("line"),
            machine_id=params.get("machine"),
            units=params.get("units"),
            ids=params.get("ids"),
        ).select_related("value_labels")

    @extend_schema(
        parameters=[s.TagFilterSerializer],
        summary="Find tags",
        responses={200: s.TagSerializer(many=True), **_PAGE_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class TagDetailView(generics.RetrieveAPIView):
    permission_classes = [has_perm(VIEW_PLANT)]
    serializer_class = s.TagSerializer
    queryset = Tag.objects.select_related("machine", "value_labels")

    @extend_schema(
        summary="One tag", responses={200: s.TagSerializer, 404: OpenApiResponse(s.ErrorSerializer, "No such tag")}
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class CurrentValuesView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(
        parameters=[s.CurrentValuesQuerySerializer],
        responses={200: s.CurrentValueSerializer(many=True), **_ERRORS},
        summary="The newest value of each tag",
    )
    def get(self, request: Request) -> Response:
        tags = _tags(_params(s.CurrentValuesQuerySerializer, request))
        values = current_values(tag_ids=[t.pk for t in tags])
        rows = []
        for tag in tags:
            value = values.get(tag.pk)
            rows.append(
                {
                    "tag": tag.pk,
                    "time": value.time.isoformat() if value else None,
                    "value": value.value if value else None,
                    "label": tag.value_label(value.value) if value else None,
                    "quality": value.quality if value else None,
                }
            )
        return Response(rows)


class RawHistoryView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(
        parameters=[s.RawQuerySerializer],
        responses={200: s.RawResponseSerializer, **_ERRORS},
        summary="Raw samples (any quality), optionally with the samples just outside the range",
    )
    @replica_view
    def get(self, request: Request) -> Response:
        params = _params(s.RawQuerySerializer, request)
        tags = _tags(params)
        _limit(len(tags) * params["max_points"], s.MAX_RESPONSE_POINTS, "points (tags x max_points)")
        result = raw_values(
            tag_ids=[t.pk for t in tags],
            start=params["start"],
            end=_nonempty_end(params),
            boundaries=params["boundaries"],
            max_points=params["max_points"],
        )
        if params["start"] == params["end"]:
            result = {pk: _emptied(values) for pk, values in result.items()}
        series = []
        for tag in tags:
            values = result[tag.pk]
            row = _labelled(tag, _series(tag, values.points))
            if params["boundaries"]:
                row |= {"before": _point(tag, values.before), "after": _point(tag, values.after)}
            series.append(row)
        return Response({"start": params["start"], "end": params["end"], "tags": series})


class InterpolatedHistoryView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(
        parameters=[s.InterpolatedQuerySerializer],
        responses={200: s.InterpolatedResponseSerializer, **_ERRORS},
        summary="Values at start, start + interval, ... up to end",
    )
    @replica_view
    def get(self, request: Request) -> Response:
        params = _params(s.InterpolatedQuerySerializer, request)
        tags = _tags(params, numeric=True)
        start, end, interval = params["start"], params["end"], params["interval"]
        _limit(((end - start) // interval + 1) * len(tags), s.MAX_RESPONSE_POINTS, "values (steps x tags)")
        result = (
            interpolated_values(tag_ids=[t.pk for t in tags], start=start, end=end, interval=interval)
            if end > start
            else {t.pk: [] for t in tags}
        )
        return Response(
            {
                "start": start,
                "end": end,
                "interval_seconds": interval.total_seconds(),
                "tags": [_labelled(tag, _series(tag, result[tag.pk])) for tag in tags],
            }
        )


class AggregateHistoryView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(
        parameters=[s.AggregateQuerySerializer],
        responses={200: s.AggregateResponseSerializer, **_ERRORS},
        summary="Aggregates per interval (avg, time-weighted avg, min, max, ...)",
    )
    @replica_view
    def get(self, request: Request) -> Response:
        params = _params(s.AggregateQuerySerializer, request)
        tags = _tags(params, numeric=True)
        start, end, interval = params["start"], params["end"], params["interval"]
        fields = params.get("fields") or list(s.AGGREGATE_FIELDS)
        _limit(-(-(end - start) // interval) * len(tags), s.MAX_RESPONSE_INTERVALS, "intervals (intervals x tags)")
        resolution = _RESOLUTIONS[params["resolution"]] if "resolution" in params else None
        if end > start:
            result = aggregate_values(
                tag_ids=[t.pk for t in tags], start=start, end=end, interval=interval, resolution=resolution
            )
            resolution, by_tag = result.resolution, result.series
        else:
            resolution, by_tag = resolution or _RESOLUTIONS["raw"], {t.pk: [] for t in tags}
        series = []
        for tag in tags:
            rows = by_tag[tag.pk]
            values: dict[str, list] = {}
            for name in fields:
                if name in ("first", "last"):
                    picked = [getattr(r, name) for r in rows]
                    values[name] = [p.value if p else None for p in picked]
                    values[f"{name}_time"] = [_ms(p.time) if p else None for p in picked]
                else:
                    values[name] = [getattr(r, name) for r in rows]
            series.append(
                {
                    "id": tag.pk,
                    "path": tag.path,
                    "units": tag.units,
                    "start": [_ms(r.start) for r in rows],
                    "values": values,
                }
            )
        return Response(
            {
                "start": start,
                "end": end,
                "interval_seconds": interval.total_seconds(),
                "resolution": resolution.name,
                "fields": fields,
                "tags": series,
            }
        )


class PlotHistoryView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(
        parameters=[s.PlotQuerySerializer],
        responses={200: s.PlotResponseSerializer, **_ERRORS},
        summary="What a chart `pixels` wide needs to draw the range (first/min/max/last per pixel, gaps as null)",
    )
    @replica_view
    def get(self, request: Request) -> Response:
        params = _params(s.PlotQuerySerializer, request)
        tags = _tags(params, numeric=True)
        _limit(len(tags) * params["pixels"], s.MAX_RESPONSE_POINTS // 4, "pixels x tags")
        start, end = params["start"], params["end"]
        if end > start:
            result = plot_values(tag_ids=[t.pk for t in tags], start=start, end=end, pixels=params["pixels"])
            resolution, bucket, by_tag = result.resolution.name, result.bucket_width, result.series
        else:
            resolution, bucket, by_tag = "raw", timedelta(0), {t.pk: [] for t in tags}
        return Response(
            {
                "start": start,
                "end": end,
                "pixels": params["pixels"],
                "resolution": resolution,
                "bucket_seconds": bucket.total_seconds(),
                "tags": [_with_label_set(tag, _series(tag, by_tag[tag.pk])) for tag in tags],
            }
        )


def _with_label_set(tag: Tag, row: dict) -> dict:
    """A plot series with its tag's value label set (`labels`: {"1": {"label", "colour"}}), for a chart to draw the
    values as a state band: a plot's values are per pixel, so the set is sent once rather than a label per value."""
    if tag.value_labels is not None:
        row["labels"] = tag.value_labels.as_json()
    return row


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class ExportView(APIView):
    """Streams CSV in constant memory however long the range (a named cursor; aggregates a slice at a time)."""

    permission_classes = [has_perm(EXPORT_DATA)]
    renderer_classes = [JSONRenderer, CSVRenderer]

    def perform_content_negotiation(self, request, force=False):
        # Errors are JSON whatever the client accepts; the CSV itself is a StreamingHttpResponse.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        parameters=[s.ExportQuerySerializer],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (400, "application/json"): s.ErrorSerializer,
            (404, "application/json"): s.ErrorSerializer,
        },
        summary="History as CSV (raw samples, or aggregates per interval), streamed",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        # The rows stream after this method returned: the generators read from the replica chosen here.
        with replica_reads() as alias:
            return self._export(request, alias)

    def _export(self, request: Request, alias: str) -> StreamingHttpResponse:
        params = _params(s.ExportQuerySerializer, request)
        tags = _tags(params, limit=MAX_EXPORT_TAGS, numeric=params["kind"] != "raw")
        ids, paths = [t.pk for t in tags], {t.pk: t.path for t in tags}
        start, end = params["start"], params["end"]
        content: Iterator[bytes] | AsyncIterator[bytes]
        if params["kind"] == "raw":
            raw_chunks: Iterator[list[tuple[int, datetime, float | str | None, int]]] = iter(())
            if end > start:  # an empty range is the header alone
                raw_export_check(tag_ids=ids, start=start, end=end)
                raw_chunks = replica_iterate(raw_export_chunks(tag_ids=ids, start=start, end=end), alias)
            value_labels = {
                t.pk: {e.value: e.label for e in t.value_labels.entries.all()}
                for t in tags
                if t.value_labels is not None
            }
            content = csv_export.raw_csv(raw_chunks, paths, value_labels)
        else:
            interval = params["interval"]
            aggregate_chunks: Iterator[tuple[int, list[AggregateInterval]]] = iter(())
            if end > start:
                aggregate_export_check(tag_ids=ids, start=start, end=end, interval=interval)
                aggregate_chunks = replica_iterate(
                    aggregate_export_chunks(tag_ids=ids, start=start, end=end, interval=interval), alias
                )
            content = csv_export.aggregate_csv(aggregate_chunks, paths, params["fields"])
        if isinstance(request._request, ASGIRequest):
            content = csv_export.as_async(content)
        name = f"millwright-{params['kind']}-{start:%Y%m%dT%H%M%S}-{end:%Y%m%dT%H%M%S}.csv"
        response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class AlarmListView(APIView):
    permission_classes = [has_perm(VIEW_ALARMS)]

    @extend_schema(
        responses=s.AlarmSerializer(many=True), summary="Alarms in the alarm list (active, unacknowledged, hidden)"
    )
    def get(self, request: Request) -> Response:
        # Security alarms (and their evidence) only for holders of alarms.view_security_alarms.
        return Response(alarm_rows(security=may_see_security(request.user)))


class JournalView(generics.ListAPIView):
    permission_classes = [has_perm(VIEW_ALARMS)]
    serializer_class = s.JournalEntrySerializer

    def get_queryset(self):
        params = _params(s.JournalFilterSerializer, self.request)
        end = params.get("end") or timezone.now()
        start = params.get("start") or end - timedelta(days=1)
        entries = JournalEntry.objects.filter(time__gte=start, time__lt=end)
        if not may_see_security(self.request.user):
            entries = entries.filter(category=AlarmCategory.PROCESS)
        if "machine" in params:
            entries = entries.filter(machine_id=params["machine"])
        if "priority" in params:
            entries = entries.filter(priority=params["priority"])
        if "tag" in params:
            entries = entries.filter(tag_path__icontains=params["tag"])
        return entries.order_by("-time", "-id")

    @extend_schema(
        parameters=[s.JournalFilterSerializer],
        responses={200: s.JournalEntrySerializer(many=True), **_PAGE_ERRORS},
        summary="The alarm journal: every transition, newest first",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DeviceListView(generics.ListAPIView):
    permission_classes = [has_perm(VIEW_PLANT)]
    serializer_class = s.DeviceStatusSerializer

    def get_queryset(self):
        return devices_by_name()

    @extend_schema(
        summary="Acquisition devices and their connection status",
        responses={200: s.DeviceStatusSerializer(many=True), **_PAGE_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AssetListView(generics.ListAPIView):
    """The OT asset inventory: what Millwright talks to, as each identified itself, with its latest changes."""

    permission_classes = [has_perm("inventory.view_asset")]
    serializer_class = s.AssetSerializer

    def get_queryset(self):
        return assets_with_recent_changes().order_by("protocol", "key")

    @extend_schema(
        summary="OT asset inventory (engineers, administrators)",
        responses={200: s.AssetSerializer(many=True), **_PAGE_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AssetChangeListView(generics.ListAPIView):
    """Every observed change of one asset, newest first, a page at a time (the asset list brings the latest ten)."""

    permission_classes = [has_perm("inventory.view_asset")]
    serializer_class = s.AssetChangeSerializer

    def get_queryset(self):
        asset_id = int(self.kwargs["asset_id"])
        if not 0 < asset_id < 2**63 or not asset_exists(asset_id=asset_id):
            raise NotFound(f"No asset {self.kwargs['asset_id']}.")
        return asset_changes(asset_id=asset_id)

    @extend_schema(
        summary="One asset's changes, newest first (engineers, administrators)",
        responses={
            200: s.AssetChangeSerializer(many=True),
            **_PAGE_ERRORS,
            404: OpenApiResponse(s.ErrorSerializer, "No such asset, or no such page"),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# Production performance (issue 13): every figure from production.queries, the one implementation.

_PRODUCTION_ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="Bad parameters"),
    403: OpenApiResponse(s.ErrorSerializer, description="The scope is in an area not granted to the user"),
    404: OpenApiResponse(s.ErrorSerializer, description="No such machine, line, area or site"),
}
MAX_INTERVALS = 50_000


def _production_scope(params: dict, request: Request) -> Scope:
    """The scope asked for, once it exists and the user may see its area's production data (production's area
    grants: production.queries.kpis.scope_visible)."""
    scope = Scope(ScopeKind(params["scope"]), params["id"])
    if not scope_exists(scope):
        raise NotFound(f"No {scope.kind} {scope.id}.")
    if not scope_visible(scope=scope, user=request.user):
        raise PermissionDenied(f"The production data of {scope.kind} {scope.id} is in an area not granted to you.")
    return scope


def _production_range(params: dict, scope: Scope) -> tuple[datetime, datetime, ShiftKpis | None]:
    """The range asked for; shift=current: the line's current shift (404 outside every shift)."""
    if params.get("shift") == "current":
        current = line_shift_kpis(line_id=scope.id)
        if current is None:
            raise NotFound(f"Line {scope.id} is in no shift now.")
        return current.shift.start, current.end, current
    return params["start"], params["end"], None


class ProductionKpisView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(
        parameters=[s.ProductionKpiQuerySerializer],
        responses={200: s.KpiResponseSerializer, **_PRODUCTION_ERRORS},
        summary="OEE and the ISO 22400-2 KPIs of a machine, line, area or site over a range or the current shift",
    )
    @replica_view
    def get(self, request: Request) -> Response:
        params = _params(s.ProductionKpiQuerySerializer, request)
        scope = _production_scope(params, request)
        start, end, current = _production_range(params, scope)
        if current is not None:
            by_machine, total = current.machines, current.kpis
        else:
            by_machine = machines_kpis(machine_ids=scope_machine_ids(scope), start=start, end=end)
            total = kpis_total(by_machine.values())
        body: dict[str, Any] = {
            "scope": scope.kind,
            "id": scope.id,
            "start": start,
            "end": end,
            "shift": f"{current.shift.date.isoformat()} {current.shift.name}" if current else None,
            "kpis": kpis_dict(total),
            "machines": {str(mid): kpis_dict(k) for mid, k in by_machine.items()},
        }
        if "grain" in params:
            series = scope_kpis_series(scope=scope, start=start, end=end, grain=Grain(params["grain"]))
            body["periods"] = [
                {"start": p.start, "end": p.end, "label": p.label, "kpis": kpis_dict(p.kpis)} for p in series
            ]
        return Response(s.KpiResponseSerializer(body).data)


class ProductionParetoView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(
        parameters=[s.ProductionRangeSerializer],
        responses={200: s.ParetoRowSerializer(many=True), **_PRODUCTION_ERRORS},
        summary="The loss Pareto: seconds of planned busy time lost by reason, Unclassified included, largest first",
    )
    @replica_view
    def get(self, request: Request) -> Response:
        params = _params(s.ProductionRangeSerializer, request)
        scope = _production_scope(params, request)
        start, end, _ = _production_range(params, scope)
        rows = loss_pareto(scope=scope, start=start, end=end)
        return Response([{"kind": r.kind, "reason": r.reason_id, "label": r.label, "seconds": r.seconds} for r in rows])


class ProductionIntervalsView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(
        parameters=[s.ProductionRangeSerializer],
        responses={200: s.StateIntervalSerializer(many=True), **_PRODUCTION_ERRORS},
        summary="Machine-state intervals overlapping a range (whole), by machine and time",
    )
    @replica_view
    def get(self, request: Request) -> Response:
        params = _params(s.ProductionRangeSerializer, request)
        scope = _production_scope(params, request)
        start, end, _ = _production_range(params, scope)
        intervals = intervals_in_range(machine_ids=scope_machine_ids(scope), start=start, end=end)
        rows = list(intervals[: MAX_INTERVALS + 1])
        _limit(len(rows), MAX_INTERVALS, "intervals")
        return Response(s.StateIntervalSerializer(rows, many=True).data)


class ProductionDowntimeView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(
        parameters=[s.ProductionRangeSerializer],
        responses={200: s.StopSerializer(many=True), **_PRODUCTION_ERRORS},
        summary="Stops (downtime) overlapping a range, newest first, with reasons and whether they are Unclassified",
    )
    @replica_view
    def get(self, request: Request) -> Response:
        params = _params(s.ProductionRangeSerializer, request)
        scope = _production_scope(params, request)
        start, end, _ = _production_range(params, scope)
        machine_ids = scope_machine_ids(scope)
        rows = list(stops_in_range(machine_ids=machine_ids, start=start, end=end)[: MAX_INTERVALS + 1])
        _limit(len(rows), MAX_INTERVALS, "stops")
        required = reason_required_seconds(machine_ids)
        now = timezone.now()
        for row in rows:
            seconds = ((row.end or now) - row.start).total_seconds()
            setattr(row, "seconds", seconds)  # noqa: B010  (read by StopSerializer, not a model field)
            unclassified = row.reason_id is None and row.state != MachineState.PLANNED_STOP
            setattr(row, "unclassified", unclassified and seconds >= required.get(row.machine_id, 300))  # noqa: B010
        return Response(s.StopSerializer(rows, many=True).data)


class ProductionExportView(APIView):
    """KPIs per period, or the state intervals, as CSV through common.csv (the one CSV writer)."""

    permission_classes = [has_perm(EXPORT_DATA)]
    renderer_classes = [JSONRenderer, CSVRenderer]

    def perform_content_negotiation(self, request, force=False):
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        parameters=[s.ProductionExportQuerySerializer],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (400, "application/json"): s.ErrorSerializer,
            (403, "application/json"): s.ErrorSerializer,
            (404, "application/json"): s.ErrorSerializer,
        },
        summary="Production KPIs per shift, day or week (or for the range), or the state intervals, as CSV",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        # The intervals stream after this method returned: their generator reads from the replica chosen here.
        with replica_reads() as alias:
            return self._export(request, alias)

    def _export(self, request: Request, alias: str) -> StreamingHttpResponse:
        params = _params(s.ProductionExportQuerySerializer, request)
        scope = _production_scope(params, request)
        start, end, _ = _production_range(params, scope)
        content: Iterator[bytes] | AsyncIterator[bytes]
        if params["kind"] == "intervals":
            intervals = intervals_in_range(machine_ids=scope_machine_ids(scope), start=start, end=end)
            content = csv_export.intervals_csv(replica_iterate(intervals.iterator(chunk_size=2000), alias))
        else:
            if "grain" in params:
                series = scope_kpis_series(scope=scope, start=start, end=end, grain=Grain(params["grain"]))
                periods = [(p.start, p.end, p.label, p.kpis) for p in series]
            else:
                periods = [(start, end, "", scope_kpis(scope=scope, start=start, end=end))]
            content = csv_export.kpis_csv(periods)
        if isinstance(request._request, ASGIRequest):
            content = csv_export.as_async(content)
        name = f"millwright-{params['kind']}-{scope.kind}{scope.id}-{start:%Y%m%dT%H%M%S}-{end:%Y%m%dT%H%M%S}.csv"
        response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


# Maintenance work requests: read and changed here through maintenance's services, the same as their pages
# (maintenance.views): who may work where (MaintenanceArea), the audit, the notifications, closing as done.
# A token writes only with its write scope (ApiToken.can_write); a browser's session needs its CSRF token.

_MAINTENANCE_WRITE_ERRORS = {
    400: s.ErrorSerializer,
    403: OpenApiResponse(
        s.ErrorSerializer,
        description="Not yours to change: no right to work on requests in the machine's area, or an API token "
        "without the write scope",
    ),
    404: s.ErrorSerializer,
    409: OpenApiResponse(s.ErrorSerializer, description="Not in this request's state (a done request stays done)"),
}


def _token_may_write(request: Request) -> None:
    if isinstance(request.auth, ApiToken) and not request.auth.can_write:
        raise PermissionDenied(
            f"The API token '{request.auth.name}' has no write scope: an administrator gives it in admin."
        )


def _request_detail(pk: int) -> Response:
    row = requests_list().filter(pk=pk).first()
    if row is None:
        raise NotFound("No such work request.")
    return Response(s.MaintenanceRequestDetailSerializer(row).data)


def _maintenance_refusal(exc: Exception) -> Response:
    if isinstance(exc, PermissionError):
        return Response({"detail": str(exc)}, status=403)
    return Response({"detail": str(exc)}, status=409)


class MaintenanceRequestsView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(
        request=s.MaintenanceRequestCreateSerializer,
        responses={201: s.MaintenanceRequestDetailSerializer, **_MAINTENANCE_WRITE_ERRORS},
        summary="Open a maintenance work request (in an area where you may work on requests)",
    )
    def post(self, request: Request) -> Response:
        _token_may_write(request)
        params = s.MaintenanceRequestCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        machine = Machine.objects.select_related("line").filter(pk=data["machine"]).first()
        if machine is None:
            raise ValidationError({"machine": [f"No such machine: {data['machine']}."]})
        try:
            created = request_open(
                machine=machine,
                component=data["component"],
                title=data["title"],
                user=request.user,
                remote_addr=_remote_addr(request),
            )
        except RequestError as exc:
            raise ValidationError({"title": [str(exc)]}) from None
        except PermissionError as exc:
            return _maintenance_refusal(exc)
        response = _request_detail(created.pk)
        response.status_code = 201
        return response

    @extend_schema(
        parameters=[s.MaintenanceRequestsQuerySerializer],
        responses={200: s.MaintenanceRequestSerializer(many=True), 400: s.ErrorSerializer},
        summary="Maintenance work requests, newest first (at most 1000)",
    )
    def get(self, request: Request) -> Response:
        params = _params(s.MaintenanceRequestsQuerySerializer, request)
        rows = requests_list(status=params.get("status"), machine_id=params.get("machine"))[:1000]
        return Response(s.MaintenanceRequestSerializer(rows, many=True).data)


class MaintenanceRequestView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(
        responses={200: s.MaintenanceRequestDetailSerializer, 404: s.ErrorSerializer},
        summary="One maintenance work request with its comments, evidence and the downtime around it",
    )
    def get(self, request: Request, pk: int) -> Response:
        return _request_detail(pk)

    @extend_schema(
        request=s.MaintenanceRequestUpdateSerializer,
        responses={200: s.MaintenanceRequestDetailSerializer, **_MAINTENANCE_WRITE_ERRORS},
        summary="Plan, assign or close a work request (done: as on its page, the maintenance is recorded, the "
        "health model re-baselined and the machine's maintenance command written)",
    )
    def patch(self, request: Request, pk: int) -> Response:
        _token_may_write(request)
        params = s.MaintenanceRequestUpdateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        row = requests_list().filter(pk=pk).first()
        if row is None:
            raise NotFound("No such work request.")
        status = data.get("status")
        if "planned_for" in data and status != "planned":
            raise ValidationError({"planned_for": ["planned_for goes with status planned."]})
        if "note" in data and status != "done":
            raise ValidationError({"note": ["note goes with status done."]})
        assignee = None
        if data.get("assignee") is not None:
            assignee = get_user_model().objects.filter(username=data["assignee"], is_active=True).first()
            if assignee is None:
                raise ValidationError({"assignee": [f"No such user: {data['assignee']}."]})
        user, remote_addr = request.user, _remote_addr(request)
        try:
            if status == "open" and row.status != "open":
                raise RequestError(f"This request is {row.status}: it does not go back to open.")
            if "assignee" in data and status != "planned":
                request_assign(request_id=row.pk, user=user, assignee=assignee, remote_addr=remote_addr)
            if status == "planned":
                request_plan(
                    request_id=row.pk,
                    user=user,
                    planned_for=data.get("planned_for"),
                    assignee=assignee,
                    remote_addr=remote_addr,
                )
            elif status == "done":
                request_close(request_id=row.pk, user=user, note=data.get("note", ""), remote_addr=remote_addr)
        except (RequestError, PermissionError) as exc:
            return _maintenance_refusal(exc)
        return _request_detail(row.pk)


class MaintenanceRequestCommentsView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(
        request=s.MaintenanceCommentCreateSerializer,
        responses={201: s.RequestCommentSerializer, **_MAINTENANCE_WRITE_ERRORS},
        summary="Comment on a work request",
    )
    def post(self, request: Request, pk: int) -> Response:
        _token_may_write(request)
        params = s.MaintenanceCommentCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        if not requests_list().filter(pk=pk).exists():
            raise NotFound("No such work request.")
        try:
            comment = request_comment(
                request_id=pk, user=request.user, text=params.validated_data["text"], remote_addr=_remote_addr(request)
            )
        except RequestError as exc:
            raise ValidationError({"text": [str(exc)]}) from None
        except PermissionError as exc:
            return _maintenance_refusal(exc)
        return Response(s.RequestCommentSerializer(comment).data, status=201)


class MaintenanceRequestsExportView(APIView):
    """Work requests as CSV through common.csv (the one CSV writer, formula guard)."""

    permission_classes = [has_perm(EXPORT_DATA)]
    # Errors are JSON; the CSV is a StreamingHttpResponse (no `format` choice to offer: nothing else to pick).
    renderer_classes = [JSONRenderer]

    @extend_schema(
        parameters=[s.MaintenanceRequestsQuerySerializer],
        responses={(200, "text/csv"): OpenApiTypes.STR, (400, "application/json"): s.ErrorSerializer},
        summary="Maintenance work requests as CSV",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        params = _params(s.MaintenanceRequestsQuerySerializer, request)
        rows = requests_list(status=params.get("status"), machine_id=params.get("machine"))
        stream = csv_export.maintenance_requests_csv(rows.iterator(chunk_size=2000))
        content: Iterator[bytes] | AsyncIterator[bytes] = stream
        if isinstance(request._request, ASGIRequest):
            content = csv_export.as_async(stream)
        response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="millwright-maintenance-requests.csv"'
        return response


# --- writes to the plant: thin, everything is decided and audited by ingest.services.writes ---------------------

# How each refusal answers: who may not (403), what does not exist (404), what the client sent (400), and what the
# plant's rules refuse at this moment (409: range, step, rate, interval, interlock, a read-only tag, ...).
_REFUSAL_STATUS = {
    WriteRule.PERMISSION: 403,
    WriteRule.TOKEN_SCOPE: 403,
    WriteRule.CSRF: 403,
    WriteRule.OTHER_PERSON: 403,
    WriteRule.SAME_PERSON: 403,
    WriteRule.UNKNOWN_TAG: 404,
    WriteRule.UNKNOWN_REQUEST: 404,
    WriteRule.INVALID_VALUE: 400,
    WriteRule.EXPIRED: 410,
}
_WRITE_RESPONSES = {
    200: OpenApiResponse(s.WriteResultSerializer, description="Written and confirmed by reading it back"),
    202: OpenApiResponse(s.WriteResultSerializer, description="Armed (confirm it) or awaiting a second person"),
    400: OpenApiResponse(s.WriteRefusalSerializer, description="Not a value that can be written"),
    403: OpenApiResponse(
        s.WriteRefusalSerializer,
        description="Not yours to write: no right to operate in the tag's area, an API token without the write "
        "scope, a missing or forged CSRF token, not the person who armed it, or the same person approving",
    ),
    404: OpenApiResponse(s.WriteRefusalSerializer, description="No such tag, or no such write waiting"),
    409: OpenApiResponse(s.WriteRefusalSerializer, description="Refused by a rule of the tag's write policy"),
    410: OpenApiResponse(s.WriteRefusalSerializer, description="The write expired before it was confirmed"),
    502: OpenApiResponse(s.WriteResultSerializer, description="Sent, but the device failed it or holds another value"),
}


def _remote_addr(request: Request) -> str | None:
    return request.META.get("REMOTE_ADDR")


def _write_response(result: WriteResult) -> Response:
    if result.state == WriteState.REFUSED:
        assert result.rule is not None
        refusal = {
            "detail": result.message,
            "rule": result.rule.value,
            "state": "refused",
            "request": result.request_id,
        }
        return Response(refusal, status=_REFUSAL_STATUS.get(result.rule, 409))
    body: dict[str, Any] = {
        "state": result.state.value,
        "message": result.message,
        "request": result.request_id,
        "token": result.token,
        "expires_at": result.expires_at,
        "outcome": result.outcome_summary(),
    }
    if result.state != WriteState.EXECUTED:
        return Response(body, status=202)
    return Response(body, status=200 if result.confirmed else 502)


class _WriteView(APIView):
    """A write to the plant. Any signed-in user or token may ask; the write service decides who may (per area) and
    audits every attempt, refused ones included. A token needs its write scope (ApiToken.can_write); a browser's
    session needs its CSRF token, and a request refused for want of one is audited too."""

    def perform_authentication(self, request: Request) -> None:
        try:
            request.user  # noqa: B018 (authenticates; the session's authentication checks the CSRF token)
        except PermissionDenied as exc:
            if "CSRF" in str(exc.detail):
                # DRF has set the request's user to anonymous by now: the session says who it was.
                self._refuse(request, WriteRule.CSRF, f"Refused: {exc.detail}", user=get_user(request._request))
            raise

    def _refuse(self, request: Request, rule: WriteRule, message: str, *, user=None) -> WriteResult:
        kwargs = self.kwargs
        tag = Tag.objects.filter(pk=kwargs["pk"]).first() if "pk" in kwargs and abs(int(kwargs["pk"])) < 2**63 else None
        value = request.data.get("value") if rule != WriteRule.CSRF and isinstance(request.data, dict) else None
        return tag_write_refuse(
            rule=rule,
            message=message,
            tag=tag,
            value=value,
            user=user if user is not None else request.user,
            via=self._via(request),
            remote_addr=_remote_addr(request),
        )

    @staticmethod
    def _via(request: Request) -> str:
        return request.auth.name if isinstance(request.auth, ApiToken) else ""

    def _scope_refusal(self, request: Request) -> Response | None:
        """A token without the write scope: refused, audited."""
        if isinstance(request.auth, ApiToken) and not request.auth.can_write:
            message = f"The API token '{request.auth.name}' has no write scope: an administrator gives it in admin."
            return _write_response(self._refuse(request, WriteRule.TOKEN_SCOPE, message))
        return None


class TagWriteView(_WriteView):
    @extend_schema(
        request=s.WriteValueSerializer,
        responses=_WRITE_RESPONSES,
        summary="Write a value to a tag, under its write policy",
        description="Direct policy: written now and read back (200, or 502 when the device failed it or holds "
        "another value). Arm-then-confirm: 202 with a token to pass to /api/v1/writes/confirm/ within the "
        "policy's window. Two-person: 202; another person approves at /api/v1/writes/{id}/approve/. A refusal "
        "names its rule. Every attempt is in the audit trail.",
    )
    def post(self, request: Request, pk: str) -> Response:
        refused = self._scope_refusal(request)
        if refused is not None:
            return refused
        data = request.data if isinstance(request.data, dict) else {}
        result = tag_write_request_by_id(
            tag_id=int(pk),
            value=data.get("value"),
            user=request.user,
            via=self._via(request),
            remote_addr=_remote_addr(request),
        )
        return _write_response(result)


class WriteConfirmView(_WriteView):
    @extend_schema(
        request=s.WriteConfirmSerializer,
        responses=_WRITE_RESPONSES,
        summary="Confirm an armed write (the person who armed it, within its window)",
    )
    def post(self, request: Request) -> Response:
        refused = self._scope_refusal(request)
        if refused is not None:
            return refused
        params = s.WriteConfirmSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        result = tag_write_confirm(
            token=params.validated_data["token"], user=request.user, remote_addr=_remote_addr(request)
        )
        return _write_response(result)


class WriteApproveView(_WriteView):
    @extend_schema(
        request=None,
        responses=_WRITE_RESPONSES,
        summary="Approve a two-person write (another person who may operate in its area, within its window)",
    )
    def post(self, request: Request, request_id: str) -> Response:
        refused = self._scope_refusal(request)
        if refused is not None:
            return refused
        waiting = write_request_awaiting_approval(request_id=int(request_id)) if abs(int(request_id)) < 2**63 else None
        result = tag_write_approve(
            token=waiting.token if waiting is not None else "",
            user=request.user,
            remote_addr=_remote_addr(request),
        )
        return _write_response(result)


class TagWritesView(APIView):
    permission_classes = [has_perm(VIEW_PLANT)]

    @extend_schema(
        parameters=[s.TagWritesQuerySerializer],
        responses={200: s.WriteRequestSerializer(many=True), **_ERRORS},
        summary="A tag's recent writes, newest first (armed, awaiting approval, executed, refused, expired)",
    )
    def get(self, request: Request, pk: str) -> Response:
        params = _params(s.TagWritesQuerySerializer, request)
        if abs(int(pk)) >= 2**63 or not Tag.objects.filter(pk=int(pk)).exists():
            raise NotFound(f"No tag {pk}.")
        rows = [write_request_row(r) for r in tag_writes_recent(tag_ids=[int(pk)], limit=params["limit"])]
        return Response(s.WriteRequestSerializer(rows, many=True).data)
