from django.urls import path

from production import views

app_name = "production"

urlpatterns = [
    path("lines/<int:line_id>/downtime/", views.line_downtime_page, name="line_downtime"),
    path("lines/<int:line_id>/reports/", views.line_reports_page, name="line_reports"),
    path("lines/<int:line_id>/reports/new/", views.line_report_create, name="line_report_create"),
    path(
        "lines/<int:line_id>/reports/<int:report_id>.<str:kind>",
        views.line_report_download,
        name="line_report_download",
    ),
    path("machines/<int:machine_id>/timeline/", views.machine_timeline_page, name="machine_timeline"),
]
