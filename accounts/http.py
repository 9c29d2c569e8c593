"""The request of a view behind `login_required`: its user is signed in, so a User, never an AnonymousUser.

For the type checker only (django-stubs' recipe): a view declares `request: AuthenticatedHttpRequest`, Django
still passes its own HttpRequest. Use it only under `login_required` (or a check that refuses anonymous users).
"""

from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthenticatedHttpRequest(HttpRequest):
    user: User
