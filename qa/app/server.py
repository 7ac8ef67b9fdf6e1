"""What the web app's HTTP server adds around Gradio: the guard middleware and a health check.

`launch_options` returns the keyword arguments `Blocks.launch` takes for them:
- the `Guard` (qa.app.limits) in front of every route: capped request bodies, a Chinese "busy"
  reply once the queue holds `QA_QUEUE_MAX_SIZE` events, refusal of cross-origin posts and of
  uploads without an admin session;
- `GET /healthz`: 200 with the queue's length and the index serving, or 503 when Gradio's queue
  task has stopped (it stops for good after an internal error, while the process lives on, so
  a supervisor must be told);
- `GET /qa-admin/feedback_eval_cases.jsonl`: the feedback export, to a request carrying a live
  admin session cookie only, streamed from the database (no file is left anywhere);
- a lower `state_session_capacity` than Gradio's 10 000 sessions;
- a sweeper of the files the app handed out or received (Gradio's cached copies of downloads and
  uploads, the app's export folder): every QA_CACHE_SWEEP_S, files older than twice that are
  deleted, and all of them when the server stops. Gradio's own `delete_cache` does the same but
  iterates its live sets of files: a file added meanwhile (concurrent downloads) ends its task
  for good, after which nothing is deleted again (200 concurrent queries left 213 files).
"""
from __future__ import annotations

import asyncio
import os
import time
from contextlib import asynccontextmanager

from fastapi.responses import JSONResponse, Response
from starlette.middleware import Middleware
from starlette.routing import Route

from qa.app.admin import EXPIRED
from qa.app.limits import STOPPED_MESSAGE, Guard, GuardPolicy

FEEDBACK_EXPORT_PATH = "/qa-admin/feedback_eval_cases.jsonl"

HEALTH_PATH = "/healthz"


def queue_of(demo):
    return getattr(demo, "_queue", None)


def queue_running(demo) -> bool:
    """Whether the queue's processing task still runs (Gradio sets `stopped` when it ends)."""
    queue = queue_of(demo)
    return queue is not None and not queue.stopped


def health(demo, runtime) -> tuple[int, dict]:
    queue = queue_of(demo)
    manifest = runtime.assistant.index.manifest
    body = {"queue_running": queue_running(demo), "queue_length": len(queue) if queue else 0,
            "index_built_at": manifest.get("built_at", ""), "passages": manifest.get("passages", 0)}
    if not body["queue_running"]:
        return 503, {**body, "status": "error", "error": STOPPED_MESSAGE}
    return 200, {**body, "status": "ok"}


def sweep_files(demo, age: float | None) -> int:
    """Delete the files Gradio lists for this app (and the export folder's) older than `age`
    seconds by ctime (all of them for None), iterating copies; returns how many went."""
    keep = set()
    for block in list(demo.blocks.values()):
        keep.update(getattr(block, "keep_in_cache", ()) or ())
    removed, now = 0, time.time()
    for files in list(demo.temp_file_sets):
        for name in list(files):
            if name in keep:
                continue
            try:
                if age is None or now - os.lstat(name).st_ctime > age:
                    os.remove(name)
                    removed += 1
                    files.discard(name)
            except FileNotFoundError:
                files.discard(name)
            except OSError:
                continue
    return removed


def sweeper(demo, every_s: float):
    """A lifespan for the server: sweep every `every_s` seconds, everything at shutdown."""
    @asynccontextmanager
    async def lifespan(app):
        async def loop():
            while True:
                await asyncio.sleep(every_s)
                try:
                    await asyncio.to_thread(sweep_files, demo, 2 * every_s)
                except Exception as exc:  # noqa: BLE001 — a failed sweep must not end the next ones
                    print(f"清理临时文件失败：{exc}")
        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            sweep_files(demo, None)
    return lifespan


def launch_options(demo, runtime) -> dict:
    """`Blocks.launch` keyword arguments: middleware, routes and session capacity."""
    config = runtime.config

    def policy() -> GuardPolicy:
        queue = queue_of(demo)
        return GuardPolicy(busy_at=config.queue_max_size,
                           queue_length=lambda: len(queue) if queue is not None else 0,
                           queue_stopped=lambda: queue is not None and queue.stopped,
                           is_admin=runtime.is_admin_cookie)

    async def healthz(request):
        status, body = health(demo, runtime)
        return JSONResponse(body, status_code=status)

    def feedback_export(request):
        if not runtime.is_admin_cookie(request.cookies):
            return JSONResponse({"error": EXPIRED}, status_code=403)
        return Response(runtime.feedback.eval_jsonl().encode("utf-8"), media_type="application/x-ndjson",
                        headers={"Content-Disposition": 'attachment; filename="feedback_eval_cases.jsonl"',
                                 "Cache-Control": "no-store"})

    routes = [Route(HEALTH_PATH, healthz, methods=["GET"]),
              Route(FEEDBACK_EXPORT_PATH, feedback_export, methods=["GET"])]
    app_kwargs = {"middleware": [Middleware(Guard, policy=policy)], "routes": routes}
    if config.cache_sweep_s > 0:
        app_kwargs["lifespan"] = sweeper(demo, config.cache_sweep_s)
    return {"app_kwargs": app_kwargs, "state_session_capacity": config.session_capacity}
