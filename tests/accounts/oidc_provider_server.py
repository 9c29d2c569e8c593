"""A real OpenID Connect provider (panva/oidc-provider on Node.js, from npm) on a free loopback port.

The tests act as the browser: they follow the provider's redirects and fill in its login form with `requests`,
and hand the authorization code back to Millwright's callback, so every hop (authorization, PKCE, token, ID token
signature against the provider's JWKS, userinfo) is the real protocol between two real servers.
"""

import json
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from common.net import free_port
from tests.waiting import wait_until

PROVIDER_DIR = Path(__file__).with_name("oidc_provider")
NODE = shutil.which("node")
NPM = shutil.which("npm")


def provider_missing() -> str | None:
    """Why the provider cannot run here, or None (its npm packages are installed on first use)."""
    if NODE is None or NPM is None:
        return "Node.js and npm are needed to run the OpenID Connect provider (panva/oidc-provider)"
    return None


def _npm_install() -> None:
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        assert NPM is not None
        subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True, capture_output=True)


@dataclass
class OidcProvider:
    issuer: str
    client_id: str
    client_secret: str

    def endpoints(self) -> dict[str, str]:
        """The settings Millwright needs, from the provider's discovery document."""
        discovery = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=5).json()
        return {
            "OIDC_OP_AUTHORIZATION_ENDPOINT": discovery["authorization_endpoint"],
            "OIDC_OP_TOKEN_ENDPOINT": discovery["token_endpoint"],
            "OIDC_OP_USER_ENDPOINT": discovery["userinfo_endpoint"],
            "OIDC_OP_JWKS_ENDPOINT": discovery["jwks_uri"],
            "OIDC_RP_CLIENT_ID": self.client_id,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
        }

    def sign_in(self, authorization_url: str, login: str) -> str:
        """Sign in at the provider as `login` (as a person at its login form would); the redirect back to us."""
        browser = requests.Session()
        response = browser.get(authorization_url, allow_redirects=True, timeout=10)
        form = re.search(r'<form[^>]*action="([^"]+)"', response.text)
        assert form, f"no login form at the provider: {response.status_code} {response.text[:300]}"
        response = browser.post(
            urljoin(response.url, form.group(1)),
            data={"prompt": "login", "login": login, "password": "any"},
            allow_redirects=False,
            timeout=10,
        )
        while response.is_redirect and response.headers["Location"].startswith(("/", self.issuer)):
            next_hop = urljoin(self.issuer, response.headers["Location"])
            response = browser.get(next_hop, allow_redirects=False, timeout=10)
        assert response.is_redirect, f"the provider did not send the browser back: {response.status_code}"
        return str(response.headers["Location"])


@contextmanager
def oidc_provider(*, redirect_uri: str, accounts: dict[str, dict[str, Any]]) -> Iterator[OidcProvider]:
    """The provider with one confidential client registered for `redirect_uri`, and `accounts` (login -> claims)."""
    _npm_install()
    port = free_port()
    provider = OidcProvider(f"http://127.0.0.1:{port}", "millwright", secrets.token_urlsafe(24))
    options = {
        "port": port,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "redirect_uri": redirect_uri,
        "accounts": accounts,
        "cookie_key": secrets.token_urlsafe(24),
    }
    assert NODE is not None
    process = subprocess.Popen(
        [NODE, "provider.mjs", json.dumps(options)],
        cwd=PROVIDER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: _answers(provider.issuer) or process.poll() is not None, timeout=30, what="the provider")
        assert process.poll() is None, f"the provider did not start: {process.stdout.read() if process.stdout else ''}"
        yield provider
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _answers(issuer: str) -> bool:
    try:
        return requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).ok
    except requests.RequestException:
        return False
