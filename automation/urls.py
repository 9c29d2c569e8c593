from django.urls import path

from automation import views

app_name = "automation"

urlpatterns = [
    path("rules/<int:rule_id>/backtest/", views.backtest, name="backtest"),
]
