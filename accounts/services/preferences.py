"""A person's page preferences (the colour theme, the language, the time zone), kept server-side so that every
browser they sign in on agrees.

The theme is read once per sign-in into the session (`theme_remember_on_login`), so a page costs no query for it;
the switch writes the row and the session together.
"""

import zoneinfo
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from accounts.models import Theme, UserPreference
from historian.queries.time_zone import plant_time_zone

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


# The language and the time zone: chosen in the header, kept like the theme (the row, and a copy in the session
# read once per sign-in). Blank means "not chosen": the browser's language, the plant's time zone.
LANGUAGE_SESSION_KEY = "millwright_language"
TIME_ZONE_SESSION_KEY = "millwright_time_zone"


def user_locale(*, user: AbstractBaseUser) -> tuple[str, str]:
    """(language, time zone) a user chose, "" for each they did not. One query."""
    row = UserPreference.objects.filter(user_id=user.pk).values_list("language", "time_zone").first()
    return (row[0], row[1]) if row else ("", "")


def user_language_set(*, user: AbstractBaseUser, language: str) -> None:
    """Remember `language` ("" = the browser's); one not in settings.LANGUAGES is refused with ValueError."""
    codes = [code for code, _name in settings.LANGUAGES]
    if language and language not in codes:
        raise ValueError(f"unknown language {language!r}: one of {', '.join(codes)}")
    UserPreference.objects.update_or_create(user_id=user.pk, defaults={"language": language})


def time_zone_valid(name: str) -> bool:
    """An IANA zone name this server knows (no path tricks: ZoneInfo refuses those with ValueError)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def user_time_zone_set(*, user: AbstractBaseUser, time_zone: str) -> None:
    """Remember `time_zone` ("" = the plant's); a name that is no IANA zone is refused with ValueError."""
    if time_zone and not time_zone_valid(time_zone):
        raise ValueError(f"unknown time zone {time_zone!r}: an IANA name such as Europe/Berlin")
    UserPreference.objects.update_or_create(user_id=user.pk, defaults={"time_zone": time_zone})


def _session_locale(request: HttpRequest) -> tuple[str, str]:
    """The signed-in user's (language, time zone) from the session, loaded from their row the first time."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return "", ""
    session = request.session
    if LANGUAGE_SESSION_KEY not in session or TIME_ZONE_SESSION_KEY not in session:
        session[LANGUAGE_SESSION_KEY], session[TIME_ZONE_SESSION_KEY] = user_locale(user=user)
    return session[LANGUAGE_SESSION_KEY], session[TIME_ZONE_SESSION_KEY]


def request_language(request: HttpRequest) -> str:
    """The language the user chose, "" when they did not (or are signed out): then the browser's."""
    return _session_locale(request)[0]


def request_time_zone(request: HttpRequest) -> tuple[str, bool]:
    """(IANA name, is the plant's) of the zone `request`'s page shows times in. Signed out (the sign-in page, the
    probes): the server's, without asking for the plant's."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return str(settings.TIME_ZONE), True
    own = _session_locale(request)[1]
    if own and time_zone_valid(own):
        return own, own == plant_time_zone()
    return plant_time_zone(), True


def request_language_set(request: HttpRequest, *, language: str) -> None:
    user_language_set(user=request.user, language=language)  # type: ignore[arg-type]  # behind login_required
    request.session[LANGUAGE_SESSION_KEY] = language


def request_time_zone_set(request: HttpRequest, *, time_zone: str) -> None:
    user_time_zone_set(user=request.user, time_zone=time_zone)  # type: ignore[arg-type]  # behind login_required
    request.session[TIME_ZONE_SESSION_KEY] = time_zone


def locale_remember_on_login(sender: Any, request: HttpRequest | None, user: AbstractBaseUser, **kwargs: Any) -> None:
    """user_logged_in receiver: the signed-in user's language and time zone into their new session."""
    if request is not None and hasattr(request, "session"):
        request.session[LANGUAGE_SESSION_KEY], request.session[TIME_ZONE_SESSION_KEY] = user_locale(user=user)
