from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import LoginView, theme_set

admin.site.site_header = "Millwright administration"
admin.site.site_title = "Millwright"

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("oidc/", include("accounts.urls")),
    path("preferences/theme/", theme_set, name="theme_set"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("tokens/", include("api.page_urls")),
    path("alarms/", include("alarms.urls")),
    path("inventory/", include("inventory.urls")),
    path("production/", include("production.urls")),
    path("maintenance/", include("maintenance.urls")),
    path("automation/", include("automation.urls")),
    path("", include("operations.urls")),
    path("", include("dashboards.urls")),
]
