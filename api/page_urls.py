from django.urls import path

from api import pages

app_name = "tokens"

urlpatterns = [
    path("", pages.token_list_page, name="list"),
    path("<int:token_id>/revoke/", pages.token_revoke_page, name="revoke"),
]
