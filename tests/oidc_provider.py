"""A real OpenID Connect provider for the sign-in tests, made of Authlib's authorization server (no mock of
Streamlit's auth): the authorization code flow with PKCE (S256) and a nonce, a discovery document at
/.well-known/openid-configuration, its RSA public key as a JWKS, id_tokens signed RS256, and a userinfo endpoint.

It serves plain HTTP on a loopback port from a thread of the test process (stdlib http.server; Authlib accepts
http:// on 127.0.0.1 and localhost). Its login page is a form asking for an email, which the browser test fills in
as whoever it wants to be: there are no passwords, and every address is reported verified."""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from authlib.jose import JsonWebKey
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, UserInfo

SCOPES = ("openid", "email", "profile")
KEY_ID = "potion-test-key"


@dataclass(frozen=True)
class User:
    email: str

    def get_user_id(self) -> str:
        return self.email  # Authlib's bearer token generator asks for it


@dataclass(frozen=True)
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uri: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri  # exactly the registered one, as real providers insist

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code:
    """An issued authorization code and what it was issued for (Authlib reads these attributes and methods)."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: User
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class Payload(OAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]):
        self._data = dict(pairs)
        self._datalist: dict[str, list[str]] = {}
        for key, value in pairs:
            self._datalist.setdefault(key, []).append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class Request(OAuth2Request):
    """One HTTP request as Authlib's server reads it: the query and the form body together, as Flask's `values`."""

    def __init__(self, method: str, uri: str, headers, query: list[tuple[str, str]], form: list[tuple[str, str]]):
        super().__init__(method, uri, headers=headers)
        self._args, self._form = dict(query), dict(form)
        self.payload = Payload(query + form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class Provider(AuthorizationServer):
    """The authorization server, its client and what it has issued, all in memory."""

    def __init__(self, issuer: str, client: Client):
        super().__init__(scopes_supported=list(SCOPES))
        self.issuer, self.client = issuer, client
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": KEY_ID})
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, tuple[User, str]] = {}  # access token -> (user, scope), for userinfo
        self.nonces: set[str] = set()  # of the codes issued: a nonce seen again is a replay
        self.signed_in: list[str] = []  # every email a login form was submitted with, in order
        self.register_token_generator("default", BearerTokenGenerator(lambda **_: secrets.token_urlsafe(32)))
        self.register_grant(CodeGrant, [OpenID(self, require_nonce=True), CodeChallenge(required=True)])

    def query_client(self, client_id: str) -> Client | None:
        return self.client if client_id == self.client.client_id else None

    def save_token(self, token: dict, request: OAuth2Request) -> None:
        self.tokens[token["access_token"]] = (request.user, token.get("scope", ""))

    def send_signal(self, name: str, *args, **kwargs) -> None:
        pass  # no listeners

    def create_oauth2_request(self, request: Request) -> Request:
        return request

    def create_json_request(self, request: Request) -> Request:
        return request

    def handle_response(self, status: int, body, headers) -> tuple[int, object, list]:
        return status, body, list(headers)

    def user_info(self, user: User, scope: str) -> UserInfo:
        return UserInfo(sub=user.email, email=user.email, email_verified=True, name=user.email.split("@")[0]).filter(
            scope
        )

    def metadata(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": list(SCOPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "email", "email_verified", "name"],
        }


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.codes[code] = Code(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=data.get("redirect_uri", ""),
            scope=request.client.get_allowed_scope(data.get("scope", "")),
            user=request.user,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )
        if data.get("nonce"):
            self.server.nonces.add(data["nonce"])

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found = self.server.codes.get(code)
        return found if found is not None and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.server.codes.pop(authorization_code.code, None)  # a code works once

    def authenticate_user(self, authorization_code: Code) -> User:
        return authorization_code.user


class OpenID(OpenIDCode):
    def __init__(self, provider: Provider, require_nonce: bool):
        super().__init__(require_nonce=require_nonce)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return nonce in self.provider.nonces

    def get_jwt_config(self, grant, client) -> dict:
        return {"key": self.provider.key, "alg": "RS256", "iss": self.provider.issuer, "exp": 3600, "kid": KEY_ID}

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return self.provider.user_info(user, scope)


LOGIN_FORM = """<!doctype html><html><head><title>Test identity provider</title></head><body>
<h1>Test identity provider</h1><form method="post" action="{action}">
<label>Email <input type="email" name="email" required></label>
<button type="submit">Continue</button></form></body></html>"""


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:
            pass  # quiet: pytest shows failures, not every request

        def _request(self) -> Request:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            form = parse_qsl(body) if self.command == "POST" else []
            return Request(self.command, provider.issuer + self.path, self.headers, parse_qsl(split.query), form)

        def _send(self, status: int, body, headers) -> None:
            if isinstance(body, dict):
                body = json.dumps(body)
            data = (body or "").encode()
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/.well-known/openid-configuration":
                self._send(200, provider.metadata(), [("Content-Type", "application/json")])
            elif path == "/jwks":
                keys = {"keys": [provider.key.as_dict(is_private=False, kid=KEY_ID, use="sig", alg="RS256")]}
                self._send(200, keys, [("Content-Type", "application/json")])
            elif path == "/authorize":
                request = self._request()
                try:
                    provider.get_consent_grant(request=request, end_user=None)  # checks client, redirect, PKCE, nonce
                except OAuth2Error as error:
                    self._send(*provider.handle_error_response(request, error))
                    return
                action = html.escape(self.path, quote=True)
                self._send(200, LOGIN_FORM.format(action=action), [("Content-Type", "text/html; charset=utf-8")])
            elif path == "/userinfo":
                self._userinfo()
            else:
                self._send(404, {"error": "not_found"}, [("Content-Type", "application/json")])

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            request = self._request()
            if path == "/authorize":
                user = User(request.form.get("email", "").strip())
                provider.signed_in.append(user.email)
                try:
                    grant = provider.get_consent_grant(request=request, end_user=user)
                except OAuth2Error as error:
                    self._send(*provider.handle_error_response(request, error))
                    return
                self._send(*provider.create_authorization_response(request=request, grant_user=user, grant=grant))
            elif path == "/token":
                self._send(*provider.create_token_response(request))
            elif path == "/userinfo":
                self._userinfo()
            else:
                self._send(404, {"error": "not_found"}, [("Content-Type", "application/json")])

        def _userinfo(self) -> None:
            kind, _, token = (self.headers.get("Authorization") or "").partition(" ")
            found = provider.tokens.get(token) if kind.lower() == "bearer" else None
            if found is None:
                self._send(401, {"error": "invalid_token"}, [("WWW-Authenticate", 'Bearer error="invalid_token"')])
                return
            user, scope = found
            self._send(200, dict(provider.user_info(user, scope)), [("Content-Type", "application/json")])

    return Handler


@contextmanager
def running_provider(client_id: str, client_secret: str, redirect_uri: str) -> Iterator[Provider]:
    """The provider on a free loopback port until the block ends, with one registered client."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    provider = Provider(f"http://127.0.0.1:{server.server_address[1]}", Client(client_id, client_secret, redirect_uri))
    server.RequestHandlerClass = _handler(provider)
    thread = threading.Thread(target=server.serve_forever, name="oidc-provider", daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()  # serve_forever returns; the thread ends
        server.server_close()
        thread.join(timeout=10)
