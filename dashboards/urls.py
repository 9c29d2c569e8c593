from django.urls import path

from dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.plant_overview_page, name="plant_overview"),
    path("explorer/", views.explorer_page, name="explorer"),
    path("kiosk/", views.kiosk_page, name="kiosk"),
    path("machines/<int:machine_id>/", views.machine_page, name="machine"),
    path("machines/<int:machine_id>/history.json", views.machine_history, name="machine_history"),
]
