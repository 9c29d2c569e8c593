from django.urls import path

from production import views

app_name = "production"

urlpatterns = [
    path("lines/<int:line_id>/downtime/", views.line_downtime_page, name="line_downtime"),
    path("lines/<int:line_id>/oee/", views.line_oee_page, name="line_oee"),
    path("lines/<int:line_id>/pareto/", views.line_pareto_page, name="line_pareto"),
    path("machines/<int:machine_id>/timeline/", views.machine_timeline_page, name="machine_timeline"),
]
