"""Who may read /metrics: the figures name devices, hosts and alarm counts, which is reconnaissance for an
attacker on the plant network, so nobody anonymous by default but the host itself.

A request is let in when it carries `Authorization: Bearer <METRICS_TOKEN>` (when a token is set; compared in
constant time), or when it comes straight from an address in METRICS_ALLOWED_IPS (addresses or networks; by
default loopback only). "Straight": a request relayed by a reverse proxy on the same host (nginx in deploy/)
arrives from loopback too, so one that carries X-Forwarded-For or Forwarded is judged by the token alone; a
Prometheus server elsewhere uses the token, or its address is listed and it scrapes a web process directly.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
        return True
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_IPS)
