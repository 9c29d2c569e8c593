"""A person's page preferences (the colour theme), kept server-side so that every browser they sign in on agrees.

The theme is read once per sign-in into the session (`theme_remember_on_login`), so a page costs no query for it;
the switch writes the row and the session together.
"""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from accounts.models import Theme, UserPreference

SESSION_KEY = "millwright_theme"


def user_theme(*, user: AbstractBaseUser) -> str:
    """The theme a user chose, the default (dark) if they never chose. One query."""
    theme = UserPreference.objects.filter(user_id=user.pk).values_list("theme", flat=True).first()
    return theme or Theme.DARK


def user_theme_set(*, user: AbstractBaseUser, theme: str) -> None:
    """Remember `theme` for `user`; an unknown theme is refused with ValueError."""
    if theme not in Theme.values:
        raise ValueError(f"unknown theme {theme!r}: one of {', '.join(Theme.values)}")
    UserPreference.objects.update_or_create(user_id=user.pk, defaults={"theme": theme})


def request_theme(request: HttpRequest) -> str:
    """The theme to render `request`'s page in: the session's copy, else the user's (then kept in the session)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return Theme.DARK
    theme = request.session.get(SESSION_KEY)
    if theme not in Theme.values:
        theme = request.session[SESSION_KEY] = user_theme(user=user)
    return theme


def request_theme_set(request: HttpRequest, *, theme: str) -> None:
    """The switch: the user's row and this session's copy."""
    user_theme_set(user=request.user, theme=theme)  # type: ignore[arg-type]  # behind login_required
    request.session[SESSION_KEY] = theme


def theme_remember_on_login(sender: Any, request: HttpRequest | None, user: AbstractBaseUser, **kwargs: Any) -> None:
    """user_logged_in receiver: the signed-in user's theme into their new session."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = user_theme(user=user)
