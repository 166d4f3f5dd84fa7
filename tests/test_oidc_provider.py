"""The test identity provider (tests/oidc_provider.py) is a real one, so a sign-in that passes in the browser tests
means something: it issues RS256 id_tokens that verify against its published JWKS, and refuses what a provider must
refuse (a wrong PKCE verifier, a reused code, a wrong client secret, a redirect it does not know, a missing bearer).
Driven with Authlib's own OAuth client over HTTP, as Streamlit drives it; no browser."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.jose import JsonWebKey, jwt

from tests.oidc_provider import running_provider

REDIRECT = "http://localhost:8501/oauth2callback"


@pytest.fixture(scope="module")
def provider():
    with running_provider("potion-search", "s3cret", REDIRECT) as running:
        yield running


def authorize(provider, email: str, *, verifier: str, nonce: str, redirect_uri: str = REDIRECT) -> httpx.Response:
    """The login form's page, then the form submitted with `email`: the provider's redirect back."""
    client = OAuth2Client("potion-search", "s3cret", scope="openid email profile", redirect_uri=redirect_uri)
    client.code_challenge_method = "S256"
    url, _ = client.create_authorization_url(f"{provider.issuer}/authorize", nonce=nonce, code_verifier=verifier)
    page = httpx.get(url)
    if page.status_code != 200:
        return page
    action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    return httpx.post(provider.issuer + action, data={"email": email})


def code_of(response: httpx.Response) -> str:
    assert response.status_code == 302 and response.headers["location"].startswith(REDIRECT), response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]


def fetch(provider, code: str, verifier: str, secret: str = "s3cret") -> dict:
    client = OAuth2Client("potion-search", secret, redirect_uri=REDIRECT)
    return client.fetch_token(f"{provider.issuer}/token", code=code, code_verifier=verifier)


def test_the_code_flow_gives_an_rs256_id_token_that_verifies_against_the_published_keys(provider):
    meta = httpx.get(f"{provider.issuer}/.well-known/openid-configuration").json()
    assert meta["issuer"] == provider.issuer and meta["code_challenge_methods_supported"] == ["S256"]
    verifier = generate_token(48)
    token = fetch(provider, code_of(authorize(provider, "alice@x.org", verifier=verifier, nonce="n-1")), verifier)
    keys = JsonWebKey.import_key_set(httpx.get(meta["jwks_uri"]).json())
    claims = jwt.decode(token["id_token"], keys)
    claims.validate()
    assert jwt.decode(token["id_token"], keys).header["alg"] == "RS256"
    assert (claims["iss"], claims["aud"], claims["nonce"]) == (provider.issuer, ["potion-search"], "n-1")
    assert (claims["email"], claims["email_verified"]) == ("alice@x.org", True)
    userinfo = httpx.get(meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"})
    assert userinfo.json()["email"] == "alice@x.org"
    assert httpx.get(meta["userinfo_endpoint"]).status_code == 401


def test_it_refuses_a_wrong_verifier_a_reused_code_a_wrong_secret_and_an_unknown_redirect(provider):
    verifier = generate_token(48)
    code = code_of(authorize(provider, "bob@y.org", verifier=verifier, nonce="n-2"))
    with pytest.raises(OAuthError, match="invalid_grant"):
        fetch(provider, code, generate_token(48))  # PKCE: not the verifier the challenge was made from
    code = code_of(authorize(provider, "bob@y.org", verifier=verifier, nonce="n-3"))
    with pytest.raises(OAuthError, match="invalid_client"):
        fetch(provider, code, verifier, secret="guess")
    fetch(provider, code, verifier)
    with pytest.raises(OAuthError, match="invalid_grant"):
        fetch(provider, code, verifier)  # a code works once
    replayed = authorize(provider, "bob@y.org", verifier=verifier, nonce="n-3")
    assert "error=invalid_request" in replayed.headers["location"]  # a nonce seen before is a replay
    elsewhere = authorize(provider, "bob@y.org", verifier=verifier, nonce="n-4", redirect_uri="http://evil.test/cb")
    assert elsewhere.status_code == 400 and "location" not in elsewhere.headers  # never redirected to a stranger
