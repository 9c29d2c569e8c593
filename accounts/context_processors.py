from django.http import HttpRequest

from accounts.models import Theme
from accounts.services.preferences import request_theme


def theme(request: HttpRequest) -> dict:
    """The page's theme, rendered into <html data-theme> by the server: the page is drawn in it from the first
    paint (no flash, no inline script). Signed out: the default. The other theme, for the header's switch."""
    current = request_theme(request)
    other = Theme.LIGHT if current == Theme.DARK else Theme.DARK
    return {"theme": current, "theme_other": other, "theme_other_label": Theme(other).label}
