from django.urls import path

from maintenance import views

app_name = "maintenance"

urlpatterns = [
    path("", views.health_overview, name="health_overview"),
    path("machines/<int:machine_id>/", views.machine_health_page, name="machine_health"),
    path("requests/", views.requests_page, name="requests"),
    path("requests/<int:request_id>/", views.request_detail, name="request_detail"),
    path("requests/<int:request_id>/action/", views.request_action, name="request_action"),
]
