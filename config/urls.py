from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from accounts.views import LoginView, language_set, theme_set, time_zone_set

admin.site.site_header = "Millwright administration"
admin.site.site_title = "Millwright"

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("oidc/", include("accounts.urls")),
    path("preferences/theme/", theme_set, name="theme_set"),
    path("preferences/language/", language_set, name="language_set"),
    path("preferences/time-zone/", time_zone_set, name="time_zone_set"),
    # The pages' scripts' translations (djangojs), served from here: plant networks have no internet.
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript_catalog"),
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
