"""pytest plugin: the ``oidc_provider`` fixture runs a real OpenID Connect provider
(panva/oidc-provider, npm) with the machine's Node.js, for one test session.

Register it from the root conftest with ``pytest_plugins = ["tests.oidc_provider.fixtures"]``.
Every client is registered up front (one server for the session): one per client authentication
method, the private_key_jwt ones with the public keys of credentials generated here once.

The npm packages are installed by ``make`` (``npm ci``); when node_modules is missing this plugin
runs ``npm ci`` itself. Without node or npm the tests skip with a message; in CI (CI=true) they
fail instead, because CI must never pass without running them (as tests/browser.py does).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from oauth2_auth import client_assertion
from tests.servers import REPO_ROOT, ServerError, run_command

HERE = Path(__file__).resolve().parent
TIMEOUT = 10  # seconds, for every request to the provider
INSTALL_TIMEOUT = 300
MAX_REDIRECTS = 10
CALLBACK = "http://testserver/oauth2/callback/"  # the app's callback as the Django test client sees it
ENV_CLIENTS = "OIDC_PROVIDER_CLIENTS"

# Client IDs, one per token endpoint authentication method.
BASIC = "oidc-basic"
POST = "oidc-post"
SECRET_JWT = "oidc-secret-jwt"
PS256 = "oidc-ps256"
RS256 = "oidc-rs256"


@dataclass(frozen=True)
class OidcClient:
    client_id: str
    auth_method: str  # oidc-provider's token_endpoint_auth_method
    secret: str = field(default="", repr=False)
    credential: client_assertion.Credential | None = None  # private_key_jwt: the app's key pair
    algorithm: str = ""  # token_endpoint_auth_signing_alg

    def metadata(self) -> dict:
        """The client's registration, as oidc-provider reads it."""
        values: dict = {
            "client_id": self.client_id,
            "token_endpoint_auth_method": self.auth_method,
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types": ["code"],
            "redirect_uris": [CALLBACK],
        }
        if self.secret:
            values["client_secret"] = self.secret
        if self.algorithm:
            values["token_endpoint_auth_signing_alg"] = self.algorithm
        if self.credential is not None:
            values["jwks"] = {"keys": [public_jwk(self.credential)]}
        return values


def public_jwk(credential: client_assertion.Credential) -> dict[str, str]:
    """The certificate's RSA public key as a JWK. No kid: the app names its key by x5t or
    x5t#S256 only, and oidc-provider then tries every key of the client."""
    numbers = credential.certificate.public_key().public_numbers()
    return {"kty": "RSA", "use": "sig", "n": _b64uint(numbers.n), "e": _b64uint(numbers.e)}


def _b64uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class OidcProvider:
    base_url: str  # also the issuer: "http://127.0.0.1:PORT", no trailing slash
    pid: int
    log_path: Path
    clients: dict[str, OidcClient]

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def discovery_url(self) -> str:
        return f"{self.base_url}/.well-known/openid-configuration"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/auth"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def revocation_url(self) -> str:
        return f"{self.base_url}/token/revocation"

    @property
    def introspection_url(self) -> str:
        return f"{self.base_url}/token/introspection"

    @property
    def userinfo_url(self) -> str:
        return f"{self.base_url}/me"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/test/api"

    # --- test controls ---------------------------------------------------------------------

    def stats(self) -> dict:
        """Since the last reset(): ``token`` counts successful token requests by
        "grant_type:auth_method", ``token_errors`` failed ones by "grant_type:error",
        ``revocations`` the revocation requests; ``last_assertion_header`` is the header of the
        last client assertion the token endpoint received."""
        return self._get("/test/stats")

    def reset(self) -> None:
        requests.post(f"{self.base_url}/test/reset", timeout=TIMEOUT).raise_for_status()

    def _get(self, path: str) -> dict:
        response = requests.get(self.base_url + path, timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()

    # --- resource server -------------------------------------------------------------------

    def userinfo_status(self, access_token: str) -> int:
        """The userinfo endpoint's status for ``access_token`` (authorization-code tokens)."""
        return self._bearer_status(self.userinfo_url, access_token)

    def api_status(self, access_token: str) -> int:
        """The test resource server's status: 200 for a live token of either grant, else 401."""
        return self._bearer_status(self.api_url, access_token)

    @staticmethod
    def _bearer_status(url: str, access_token: str) -> int:
        headers = {"Authorization": f"Bearer {access_token}"}
        return requests.get(url, headers=headers, timeout=TIMEOUT).status_code

    def introspect(self, token: str) -> dict:
        """RFC 7662 introspection, as the client_secret_basic client."""
        client = self.clients[BASIC]
        response = requests.post(
            self.introspection_url,
            data={"token": token},
            auth=(client.client_id, client.secret),
            timeout=TIMEOUT,
        )
        response.raise_for_status()
        return response.json()

    def refresh_directly(self, client_id: str, refresh_token: str) -> dict:
        """A refresh sent by the test itself (client_secret_basic or _post clients only)."""
        client = self.clients[client_id]
        response = requests.post(
            self.token_url,
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(client.client_id, client.secret),
            timeout=TIMEOUT,
        )
        return response.json()

    # --- consent -------------------------------------------------------------------------

    def consent_over_http(self, auth_location: str) -> str:
        """Follow the provider's redirects from ``auth_location`` (the URL Get Token sent the
        browser to) through sign-in and consent, which the server grants with no page; returns
        the first Location that leaves the provider (the callback with code, state and iss, or
        with error=...) without following it."""
        url = auth_location
        with requests.Session() as session:  # keeps the provider's interaction cookies
            for _ in range(MAX_REDIRECTS):
                response = session.get(url, allow_redirects=False, timeout=TIMEOUT)
                if not response.is_redirect:
                    raise ServerError(f"{url} answered {response.status_code}: {response.text[:500]}")
                url = urljoin(url, response.headers["Location"])
                if not url.startswith(self.base_url + "/"):
                    return url
        raise ServerError(f"more than {MAX_REDIRECTS} redirects from {auth_location}")


# --- node and npm ---------------------------------------------------------------------------


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " CI must not skip the oidc-provider tests.")
    pytest.skip(message)


def _node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        _unavailable("node and npm are needed for the oidc-provider tests: install Node.js 20 or later.")
    return node


def _installed() -> bool:
    """Whether node_modules holds the oidc-provider version package.json pins."""
    wanted = json.loads((HERE / "package.json").read_text())["dependencies"]["oidc-provider"]
    found = HERE / "node_modules" / "oidc-provider" / "package.json"
    return found.exists() and json.loads(found.read_text())["version"] == wanted


def _ensure_installed() -> None:
    """``npm ci`` from the committed lock file unless make already did it. A lock file keeps two
    pytest runs from installing into the same directory at once."""
    if _installed():
        return
    with (HERE / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed():
            return
        command = ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)]
        try:
            done = subprocess.run(
                command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            _unavailable(f"npm ci did not finish in {INSTALL_TIMEOUT}s.")
        if done.returncode != 0:
            _unavailable(f"npm ci failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")


# --- clients and process --------------------------------------------------------------------


def make_clients() -> dict[str, OidcClient]:
    """One client per authentication method. Secrets are random per session; the two RSA
    credentials (3072-bit, slow to make) are generated once here."""
    clients = [
        OidcClient(BASIC, "client_secret_basic", secret=secrets.token_urlsafe(32)),
        OidcClient(POST, "client_secret_post", secret=secrets.token_urlsafe(32)),
        # HS256 needs a secret of at least 256 bits.
        OidcClient(SECRET_JWT, "client_secret_jwt", secret=secrets.token_urlsafe(48), algorithm="HS256"),
        OidcClient(PS256, "private_key_jwt", credential=client_assertion.generate("test"), algorithm="PS256"),
        OidcClient(RS256, "private_key_jwt", credential=client_assertion.generate("test"), algorithm="RS256"),
    ]
    return {client.client_id: client for client in clients}


@contextmanager
def run_oidc_provider(clients: dict[str, OidcClient]) -> Iterator[OidcProvider]:
    """Start oidc-provider with ``clients`` registered; stop it by PID on exit."""
    node = _node()
    _ensure_installed()

    def env_for(tmp: Path) -> dict[str, str]:
        path = tmp / "clients.json"
        path.write_text(json.dumps([client.metadata() for client in clients.values()]))
        path.chmod(0o600)  # client secrets
        return {ENV_CLIENTS: str(path)}

    with run_command(
        lambda port: [node, str(HERE / "server.mjs"), str(port)],
        env_for,
        name="oidc-provider",
        ready_path="/test/stats",
    ) as started:
        yield OidcProvider(started.base_url, started.pid, started.log_path, clients)


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    with run_oidc_provider(make_clients()) as server:
        yield server
