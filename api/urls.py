from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from api import views
from api.errors import api_not_found

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: the Content-Security-Policy allows no inline one.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    path("v1/hierarchy/", views.HierarchyView.as_view(), name="hierarchy"),
    path("v1/tags/", views.TagListView.as_view(), name="tags"),
    # Any integer, so that a negative or unknown id is the API's JSON 404, not the site's HTML one.
    re_path(r"^v1/tags/(?P<pk>-?[0-9]+)/$", views.TagDetailView.as_view(), name="tag"),
    re_path(r"^v1/tags/(?P<pk>-?[0-9]+)/write/$", views.TagWriteView.as_view(), name="tag_write"),
    re_path(r"^v1/tags/(?P<pk>-?[0-9]+)/writes/$", views.TagWritesView.as_view(), name="tag_writes"),
    path("v1/writes/confirm/", views.WriteConfirmView.as_view(), name="write_confirm"),
    re_path(r"^v1/writes/(?P<request_id>-?[0-9]+)/approve/$", views.WriteApproveView.as_view(), name="write_approve"),
    path("v1/current-values/", views.CurrentValuesView.as_view(), name="current_values"),
    path("v1/history/raw/", views.RawHistoryView.as_view(), name="history_raw"),
    path("v1/history/interpolated/", views.InterpolatedHistoryView.as_view(), name="history_interpolated"),
    path("v1/history/aggregates/", views.AggregateHistoryView.as_view(), name="history_aggregates"),
    path("v1/history/plot/", views.PlotHistoryView.as_view(), name="history_plot"),
    path("v1/history/export.csv", views.ExportView.as_view(), name="history_export"),
    path("v1/alarms/", views.AlarmListView.as_view(), name="alarms"),
    path("v1/alarms/journal/", views.JournalView.as_view(), name="journal"),
    path("v1/devices/", views.DeviceListView.as_view(), name="devices"),
    path("v1/assets/", views.AssetListView.as_view(), name="assets"),
    re_path(r"^v1/assets/(?P<asset_id>-?[0-9]+)/changes/$", views.AssetChangeListView.as_view(), name="asset_changes"),
    path("v1/production/kpis/", views.ProductionKpisView.as_view(), name="production_kpis"),
    path("v1/production/pareto/", views.ProductionParetoView.as_view(), name="production_pareto"),
    path("v1/production/intervals/", views.ProductionIntervalsView.as_view(), name="production_intervals"),
    path("v1/production/downtime/", views.ProductionDowntimeView.as_view(), name="production_downtime"),
    path("v1/production/export.csv", views.ProductionExportView.as_view(), name="production_export"),
    path("v1/maintenance/requests/", views.MaintenanceRequestsView.as_view(), name="maintenance_requests"),
    path("v1/maintenance/requests/<int:pk>/", views.MaintenanceRequestView.as_view(), name="maintenance_request"),
    path(
        "v1/maintenance/requests/<int:pk>/comments/",
        views.MaintenanceRequestCommentsView.as_view(),
        name="maintenance_request_comments",
    ),
    path(
        "v1/maintenance/requests.csv", views.MaintenanceRequestsExportView.as_view(), name="maintenance_requests_export"
    ),
    # Last: whatever else is under /api/ is a JSON 404 (e.g. /api/v1/tags/%C2%84/), like the API's own.
    re_path(r"^(?P<path>.*)$", api_not_found, name="not_found"),
]
