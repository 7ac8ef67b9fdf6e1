"""Bounds on what an anonymous visitor can make the app hold or do.

- `text_param`: every text parameter of every endpoint is checked for type and length before
  any work is done on it (a 5 MB keyword is refused before it reaches the tokenizer); the
  message says which field and what the limit is.
- `echo`: what is sent back of a visitor's own input is capped and made encodable (a lone
  surrogate cannot break the JSON reply).
- `RateLimiter`: per-visitor token buckets for questions, bounded in the number of visitors it
  remembers.
- `Guard`: ASGI middleware in front of Gradio: request bodies of the queue and API routes are
  capped, a full queue answers with a Chinese "busy" message before Gradio would, a dead queue
  is reported, and cross-origin posts and anonymous uploads are refused (see `qa.app.admin`).
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from qa.errors import InputError

# Characters per field; a question's limit is QA_MAX_QUESTION_CHARS (see qa.config).
MAX_KEYWORD_CHARS = 100
MAX_NAME_CHARS = 100  # place, document, kind, status, attribute: chosen from lists, short
MAX_COMMENT_CHARS = 2000
MAX_LOGIN_CHARS = 128
ECHO_CHARS = 200  # of a visitor's own input sent back with an error
# Bytes of one request body to the queue or API routes: a question of QA_MAX_QUESTION_CHARS in
# four-byte characters with its chat history fits many times over; 5 MB does not.
MAX_BODY_BYTES = 1024 * 1024
BUSY_MESSAGE = "当前提问的人较多，系统繁忙，请稍后再试。"
STOPPED_MESSAGE = "服务暂时不可用（请求队列已停止），请稍后再试或联系管理员。"
TOO_LARGE_MESSAGE = "请求内容过长，已拒收。"
CROSS_ORIGIN_MESSAGE = "拒绝来自其他网站的请求。"
UPLOAD_MESSAGE = "上传仅限已登录的管理员。"
RATE_MESSAGE = "提问过于频繁，请稍等 {wait} 秒后再试。"

FIELD_NAMES = {"question": "问题", "previous_question": "上一个问题", "keyword": "关键词", "query": "关键词",
               "place": "地域", "doc": "文档", "kind": "类型", "status": "状态", "attribute": "属性",
               "comment": "评价意见", "user": "用户名", "password": "密码"}


def text_param(value, field: str, limit: int, required: bool = False, shown_limit: int | None = None) -> str:
    """A text parameter as str: None is "", a number is its digits, anything else (a list, a
    dict) or a text over `limit` characters is refused with a message naming the field (and
    `shown_limit`, when a later check is the precise one)."""
    label = FIELD_NAMES.get(field, field)
    if value is None:
        value = ""
    elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(f"参数“{label}”应为文字，收到的是 {type(value).__name__}。")
    value = value if isinstance(value, str) else str(value)
    if len(value) > limit:
        raise InputError(f"{label}过长（{len(value)} 字），请控制在 {shown_limit or limit} 字以内。")
    if required and not value.strip():
        raise InputError(f"{label}为空。")
    return value


def echo(value) -> str:
    """A visitor's input as it may be sent back: text, at most ECHO_CHARS characters, a lone
    surrogate replaced (JSON encoders and SQLite refuse it)."""
    text = value if isinstance(value, str) else "" if value is None else repr(value)[:ECHO_CHARS]
    cut = text[:ECHO_CHARS] + ("…" if len(text) > ECHO_CHARS else "")
    return cut.encode("utf-8", "replace").decode("utf-8")


class RateLimiter:
    """Token buckets per key (a visitor): `burst` at once, then `per_minute`; the least recently
    seen keys are forgotten beyond `max_keys`, so a flood of new visitors cannot grow it."""

    def __init__(self, per_minute: float, burst: int, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.rate = per_minute / 60.0
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def wait(self, key: str) -> float:
        """Take one token for `key`: 0 when allowed, else the seconds until one is free."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, seen = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - seen) * self.rate)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return 0.0 if allowed else (1 - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)


class BoundedCache:
    """A least-recently-used map of at most `size` entries, safe across threads; one per app
    (never process-global), keyed only on bounded values."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def visitor(request, trust_forwarded: bool = False) -> str:
    """Who is asking: the client address (or the first X-Forwarded-For hop behind a proxy the
    operator trusts); '' when unknown (a direct call without a request)."""
    if request is None:
        return ""
    headers = getattr(request, "headers", None) or {}
    if trust_forwarded:
        forwarded = headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    client = getattr(request, "client", None)
    return getattr(client, "host", "") or ""


# ---------------------------------------------------------------- ASGI guard in front of Gradio

@dataclass
class GuardPolicy:
    """What the guard needs to know of the app: the queue's state and who is an admin."""

    busy_at: int  # events waiting in the queue from which a join is refused as busy
    queue_length: Callable[[], int]
    queue_stopped: Callable[[], bool]
    is_admin: Callable[[dict], bool]  # from the request's cookies
    max_body: int = MAX_BODY_BYTES


def _json_response(status: int, message: str):
    body = json.dumps({"detail": message, "error": message}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json; charset=utf-8"),
               (b"content-length", str(len(body)).encode())]
    return status, headers, body


def _cookies(raw: str) -> dict:
    out = {}
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            out[name] = value
    return out


def same_origin(headers: dict) -> bool:
    """A browser's Origin names this host (as the request or a reverse proxy's X-Forwarded-Host
    gives it), or there is none (a script's call)."""
    origin = headers.get("origin") or ""
    if not origin:
        return True
    hosts = {headers.get("host", ""), headers.get("x-forwarded-host", "").split(",")[0].strip()} - {""}
    scheme, _, rest = origin.partition("://")
    return bool(rest) and rest.split("/")[0] in hosts


class Guard:
    """The middleware (see the module docstring); `policy` is read per request, so a test or the
    app can swap what it points at."""

    QUEUE_PATHS = ("/queue/join",)
    BODY_PATHS = ("/queue/join", "/call/", "/run/", "/api/")

    def __init__(self, app, policy: Callable[[], GuardPolicy | None]):
        self.app = app
        self.policy = policy

    async def __call__(self, scope, receive, send):
        policy = self.policy() if scope.get("type") == "http" else None
        if policy is None or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._refusal(path, headers, policy)
        if refusal is None and any(p in path for p in self.BODY_PATHS):
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > policy.max_body:
                refusal = _json_response(413, TOO_LARGE_MESSAGE)
            else:
                receive = _capped(receive, policy.max_body)
        if refusal is None:
            try:
                return await self.app(scope, receive, send)
            except _BodyTooLarge:
                refusal = _json_response(413, TOO_LARGE_MESSAGE)
        status, head, body = refusal
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": body})

    @classmethod
    def _refusal(cls, path: str, headers: dict, policy: GuardPolicy):
        if not same_origin(headers):
            return _json_response(403, CROSS_ORIGIN_MESSAGE)
        if path.endswith("/upload") and not policy.is_admin(_cookies(headers.get("cookie", ""))):
            return _json_response(403, UPLOAD_MESSAGE)
        if any(path.endswith(p) for p in cls.QUEUE_PATHS):
            if policy.queue_stopped():
                return _json_response(503, STOPPED_MESSAGE)
            if policy.queue_length() >= policy.busy_at:
                return _json_response(503, BUSY_MESSAGE)
        return None


class _BodyTooLarge(Exception):
    pass


def _capped(receive, limit: int):
    """`receive` that raises once more than `limit` body bytes arrived (chunked uploads too)."""
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge()
        return message
    return wrapped
