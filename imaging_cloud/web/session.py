"""The browser's sign-in: the API's own tokens kept in HttpOnly, Secure, SameSite=Strict cookies.

``ic_access`` holds the token every API call of the page uses (the patient's, or the proxy token while acting
for a family member); ``ic_refresh`` the sign-in's refresh token; ``ic_self`` the patient's own access token while
acting for someone, ``ic_acting`` whom. An expired access token is refreshed through ``POST /auth/token``
(rotation and reuse detection are the API's); a revoked one (sign-out elsewhere) ends the browser's session.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response

from auth.principals import Principal, Role
from auth.tokens import InvalidToken
from imaging_cloud.access.principal import ACCESS_COOKIE, principal_from_token
from imaging_cloud.errors import Unauthenticated
from imaging_cloud.runtime import Runtime, get_runtime
from imaging_cloud.web.api import ApiCallFailed, ApiClient

REFRESH_COOKIE = "ic_refresh"
SELF_COOKIE = "ic_self"
ACTING_COOKIE = "ic_acting"
SESSION_COOKIES = (ACCESS_COOKIE, REFRESH_COOKIE, SELF_COOKIE, ACTING_COOKIE)
WEB_PREFIX = "/web"


class SignInRequired(Exception):
    """No usable sign-in: the page answers with a redirect to the sign-in page (``next`` = this page)."""

    def __init__(self, next_path: str | None = None) -> None:
        super().__init__("sign-in required")
        self.next_path = next_path


@dataclass
class CookieJar:
    """Cookies a page's response must set or clear (collected while the request is handled)."""

    to_set: dict[str, tuple[str, int]] = field(default_factory=dict)
    to_clear: set[str] = field(default_factory=set)

    def apply(self, response: Response, *, secure: bool) -> None:
        for name in self.to_clear - set(self.to_set):
            response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="strict")
        for name, (value, max_age) in self.to_set.items():
            response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="strict")


def cookie_jar(request: Request) -> CookieJar:
    jar = getattr(request.state, "web_cookies", None)
    if jar is None:
        jar = request.state.web_cookies = CookieJar()
    return jar


def store_tokens(request: Request, tokens: dict[str, Any], *, keep_self: bool = False) -> None:
    """Remember a token response (``TokenOut``) in the browser's cookies."""
    jar = cookie_jar(request)
    jar.to_set[ACCESS_COOKIE] = (tokens["access_token"], int(tokens["expires_in"]))
    if tokens.get("refresh_token"):
        jar.to_set[REFRESH_COOKIE] = (tokens["refresh_token"], int(tokens["refresh_expires_in"]))
    if not keep_self:
        jar.to_clear.update({SELF_COOKIE, ACTING_COOKIE})


def forget_session(request: Request) -> None:
    jar = cookie_jar(request)
    jar.to_set = {k: v for k, v in jar.to_set.items() if k not in SESSION_COOKIES}
    jar.to_clear.update(SESSION_COOKIES)


@dataclass(frozen=True)
class WebSession:
    """The signed-in browser: who it is and the token its API calls carry."""

    principal: Principal
    token: str
    request: Request

    @property
    def api(self) -> ApiClient:
        return ApiClient(self.request, self.token)

    @property
    def person_ref(self) -> str | None:
        """Whose data the patient pages show: the represented person while acting for them, else one's own."""
        return self.principal.acting_for or self.principal.person_ref

    @property
    def role(self) -> Role:
        return self.principal.role


def _verified(request: Request, runtime: Runtime, token: str | None) -> Principal | None:
    if not token:
        return None
    try:
        return principal_from_token(request, runtime, token)
    except Unauthenticated:
        return None


async def _refreshed(request: Request, runtime: Runtime) -> tuple[Principal, str] | None:
    """A new access token from the refresh cookie (and the proxy token again if the browser was acting)."""
    refresh = request.cookies.get(REFRESH_COOKIE)
    if not refresh:
        return None
    anonymous = ApiClient(request, None)
    try:
        tokens = await anonymous.post("/auth/token", form={"grant_type": "refresh_token", "refresh_token": refresh})
    except ApiCallFailed:
        return None
    store_tokens(request, tokens)
    token = tokens["access_token"]
    acting_for = request.cookies.get(ACTING_COOKIE)
    if acting_for:
        try:
            proxy = await act_for(request, runtime, token, acting_for, acting_max_age=int(tokens["refresh_expires_in"]))
        except ApiCallFailed:
            proxy = None  # the link was removed meanwhile: back to the patient's own data
        if proxy is not None:
            token = proxy
    principal = _verified(request, runtime, token)
    return (principal, token) if principal else None


async def act_for(
    request: Request, runtime: Runtime, own_token: str, person_ref: str, *, acting_max_age: int | None = None
) -> str:
    """Take up the proxy role for ``person_ref`` with the patient's own access token; the proxy token.

    The browser then calls the API with the proxy token, keeps the patient's own access token in ``ic_self`` and
    whom it acts for in ``ic_acting``. The refresh cookie stays the patient's own: a refresh gives the patient's
    token back and the proxy token is asked for again (so a removed link ends the acting at once); the proxy's
    own refresh token is not kept. ``ApiCallFailed`` if the API refuses (no active link, not a patient).
    """
    proxy = await ApiClient(request, own_token).post("/auth/act-for", {"person_ref": person_ref})
    jar = cookie_jar(request)
    jar.to_set[SELF_COOKIE] = (own_token, _seconds_left(runtime, own_token))
    jar.to_set[ACTING_COOKIE] = (person_ref, acting_max_age or int(proxy.get("refresh_expires_in") or 0))
    jar.to_clear -= {SELF_COOKIE, ACTING_COOKIE}
    jar.to_set[ACCESS_COOKIE] = (proxy["access_token"], int(proxy["expires_in"]))
    return str(proxy["access_token"])


def _seconds_left(runtime: Runtime, token: str) -> int:
    """How long a token the service verified a moment ago stays valid (0 if it no longer verifies)."""
    try:
        expires_at = runtime.verifier.verify(token).expires_at
    except InvalidToken:
        return 0
    return max(0, int((expires_at - dt.datetime.now(dt.UTC)).total_seconds()))


async def stop_acting(request: Request, runtime: Runtime) -> bool:
    """Back to the patient's own token (kept in ``ic_self``, or a fresh one from the refresh cookie); ``False``
    if neither works any more (the browser must sign in again).

    The proxy token is dropped, not revoked: it was issued into the patient's own sign-in (the same refresh
    family), and the API's only way to end a token, ``POST /auth/sign-out``, ends that whole family, the
    patient's own sign-in with it. The dropped token lapses at its expiry; signing out ends it at once.
    """
    jar = cookie_jar(request)
    own = _current_cookie(request, SELF_COOKIE)  # the one just re-acquired, if this request refreshed
    refresh = _current_cookie(request, REFRESH_COOKIE)  # a used refresh token must never be presented again
    for name in (SELF_COOKIE, ACTING_COOKIE):
        jar.to_set.pop(name, None)
        jar.to_clear.add(name)
    principal = _verified(request, runtime, own)
    if own is not None and principal is not None and principal.role is Role.PATIENT:
        left = _seconds_left(runtime, own)
        if left > 0:
            jar.to_set[ACCESS_COOKIE] = (own, left)
            return True
    if refresh:
        form = {"grant_type": "refresh_token", "refresh_token": refresh}
        try:
            store_tokens(request, await ApiClient(request, None).post("/auth/token", form=form))
        except ApiCallFailed:
            pass
        else:
            return True
    forget_session(request)
    return False


def _current_cookie(request: Request, name: str) -> str | None:
    """The cookie's value as this request leaves it: set anew while handling it, else as the browser sent it."""
    just_set = cookie_jar(request).to_set.get(name)
    return just_set[0] if just_set else request.cookies.get(name)


async def represented_name(session: WebSession) -> str | None:
    """The masked name of the person a proxy session acts for (the banner shows it), asked with the patient's own
    token (``/me/represented`` answers patients only); ``None`` when not acting or that token no longer answers."""
    person_ref = session.principal.acting_for
    own = _current_cookie(session.request, SELF_COOKIE)
    if person_ref is None or not own:
        return None
    try:
        represented = await ApiClient(session.request, own).get("/me/represented")
    except ApiCallFailed:
        return None
    return next((str(p["display_name"]) for p in represented if p.get("person_ref") == person_ref), None)


def _next_path(request: Request) -> str:
    path = request.url.path
    return path + ("?" + request.url.query if request.url.query else "")


async def optional_session(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> WebSession | None:
    """The browser's session if it has a usable one (refreshing an expired access token), else ``None``."""
    token = request.cookies.get(ACCESS_COOKIE)
    principal = _verified(request, runtime, token)
    if principal is not None and token is not None:
        return WebSession(principal, token, request)
    refreshed = await _refreshed(request, runtime)
    if refreshed is None:
        if any(name in request.cookies for name in SESSION_COOKIES):
            forget_session(request)
        return None
    return WebSession(refreshed[0], refreshed[1], request)


async def web_session(session: Annotated[WebSession | None, Depends(optional_session)], request: Request) -> WebSession:
    """A page that needs a signed-in browser: without one, the browser is sent to sign in and brought back."""
    if session is None:
        raise SignInRequired(_next_path(request) if request.method == "GET" else None)
    return session


CurrentWebSession = Annotated[WebSession, Depends(web_session)]
OptionalWebSession = Annotated[WebSession | None, Depends(optional_session)]


def require_roles(*roles: Role) -> Any:
    """A dependency for pages of some roles only; others get the 403 page (the API would refuse them anyway)."""

    async def guard(session: CurrentWebSession) -> WebSession:
        if session.role not in roles:
            raise PageForbidden()
        return session

    return Depends(guard)


class PageForbidden(Exception):
    """This signed-in role has no such page."""


def sign_in_url(next_path: str | None) -> str:
    if safe_next(next_path):
        return f"{WEB_PREFIX}/sign-in?next={quote(str(next_path), safe='/')}"
    return f"{WEB_PREFIX}/sign-in"


def safe_next(value: str | None) -> str | None:
    """Only a path inside the portal may be a redirect target (no open redirect)."""
    if not value or not value.startswith(WEB_PREFIX + "/"):
        return None
    if any(part in value for part in ("//", "\\", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C")):
        return None
    return value
