"""Staff login for the web app: throttled, logged, expiring, with a logout.

- Credentials are compared in constant time (`hmac.compare_digest` on both fields, always both).
- Failed attempts are counted per client address and per account name; after
  `FREE_FAILURES` failures within `WINDOW_S`, that client or account must wait, twice as long
  after each further failure (capped at `MAX_LOCK_S`). A throttled attempt is refused without
  checking the password, so guessing gains nothing while locked. The tables are bounded.
- Every attempt is logged (logger "qa.admin": client, account, outcome; never the password).
- A login returns a random session token that expires after `QA_ADMIN_SESSION_MINUTES` without
  use (and after `MAX_SESSION_S` in any case); `logout` ends it. The web app keeps the token in
  the page's session state and in a same-site cookie, which the upload route checks.
"""
from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict
from typing import Callable

log = logging.getLogger("qa.admin")

FREE_FAILURES = 5  # failures within WINDOW_S before a client or account is throttled
WINDOW_S = 600
FIRST_LOCK_S = 2.0
MAX_LOCK_S = 900.0
MAX_SESSION_S = 12 * 3600
MAX_TRACKED = 10_000  # clients and accounts whose failures are remembered
MAX_SESSIONS = 100
COOKIE = "qa_admin"

DISABLED = "管理功能未启用：请设置 QA_ADMIN_USER 和 QA_ADMIN_PASSWORD 后重启。"
WRONG = "用户名或密码错误。"
THROTTLED = "登录失败次数过多，请 {wait} 秒后再试。"
LOGGED_IN = "已登录管理员（{minutes} 分钟无操作后自动退出）。"
LOGGED_OUT = "已退出管理员登录。"
EXPIRED = "请先以管理员身份登录（登录已过期或未登录）。"


class _Failures:
    """Failed attempts of one key: count in the window, and until when it is locked."""

    __slots__ = ("count", "first", "locked_until")

    def __init__(self, now: float):
        self.count, self.first, self.locked_until = 0, now, 0.0


class AdminSessions:
    """Login, throttling and sessions for one configured admin account."""

    def __init__(self, user: str, password: str, session_minutes: int = 30,
                 clock: Callable[[], float] = time.monotonic):
        self.user, self.password = user or "", password or ""
        self.idle_s = max(1, session_minutes) * 60
        self.clock = clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self._sessions: OrderedDict[str, tuple[float, float]] = OrderedDict()  # token → (started, last use)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.user and self.password)

    # ------------------------------------------------------------ login

    def login(self, user, password, client: str = "") -> tuple[str | None, str]:
        """(session token, message); the token is None when refused."""
        if not self.enabled:
            return None, DISABLED
        user = user if isinstance(user, str) else ""
        password = password if isinstance(password, str) else ""
        keys = [f"client:{client}", f"account:{user[:128]}"]
        now = self.clock()
        wait = self._locked(keys, now)
        if wait:
            log.warning("admin login throttled: client=%r account=%r wait=%.0fs", client, user[:64], wait)
            return None, THROTTLED.format(wait=max(1, round(wait)))
        user_ok = hmac.compare_digest(user.encode("utf-8", "replace"), self.user.encode())
        password_ok = hmac.compare_digest(password.encode("utf-8", "replace"), self.password.encode())
        if not (user_ok and password_ok):
            self._fail(keys, now)
            log.warning("admin login failed: client=%r account=%r", client, user[:64])
            return None, WRONG
        for key in keys:
            self._failures.pop(key, None)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[token] = (now, now)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        log.info("admin login: client=%r account=%r", client, user[:64])
        return token, LOGGED_IN.format(minutes=self.idle_s // 60)

    def _locked(self, keys: list[str], now: float) -> float:
        with self._lock:
            waits = [f.locked_until - now for k in keys if (f := self._failures.get(k)) is not None]
        return max(waits + [0.0])

    def _fail(self, keys: list[str], now: float) -> None:
        with self._lock:
            for key in keys:
                entry = self._failures.pop(key, None)
                if entry is None or now - entry.first > WINDOW_S and entry.locked_until <= now:
                    entry = _Failures(now)
                entry.count += 1
                if entry.count > FREE_FAILURES:
                    lock = min(MAX_LOCK_S, FIRST_LOCK_S * 2 ** (entry.count - FREE_FAILURES - 1))
                    entry.locked_until = now + lock
                self._failures[key] = entry
                while len(self._failures) > MAX_TRACKED:
                    self._failures.popitem(last=False)

    # ------------------------------------------------------------ sessions

    def valid(self, token) -> bool:
        """Whether `token` is a live session; using it extends it."""
        if not token or not isinstance(token, str):
            return False
        now = self.clock()
        with self._lock:
            found = self._sessions.get(token)
            if found is None:
                return False
            started, last = found
            if now - last > self.idle_s or now - started > MAX_SESSION_S:
                del self._sessions[token]
                log.info("admin session expired")
                return False
            self._sessions[token] = (started, now)
        return True

    def logout(self, token) -> str:
        with self._lock:
            if isinstance(token, str) and self._sessions.pop(token, None) is not None:
                log.info("admin logout")
        return LOGGED_OUT
