from django.urls import path

from alarms import views

app_name = "alarms"

urlpatterns = [
    path("", views.alarm_list_page, name="list"),
    path("<int:alarm_id>/", views.alarm_detail_page, name="detail"),
    path("history/", views.alarm_history_page, name="history"),
    path("history.csv", views.alarm_history_csv, name="history_csv"),
    path("performance/", views.alarm_kpi_page, name="kpi"),
]
