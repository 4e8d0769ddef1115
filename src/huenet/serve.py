"""``huenet serve``: a local web page and HTTP API for colorizing photos.

Starlette and uvicorn (the ``serve`` extra), one page with no external resources (it works
with no internet), and three API routes:

- ``POST /api/colorize``: multipart field ``image`` (or ``image_id``, the id of an image
  uploaded before, to re-render it without uploading again), optional ``vivid``
  (true/false), ``vividness`` (-2 to 3), ``stretch`` (true/false: a faded photo seen at a
  normal contrast, ``huenet colorize --stretch``) and ``model``. Answers ``image/png`` at the input's
  exact pixel size, with the image's id in ``X-Huenet-Image-Id``.
  With a model that takes color hints, ``hints``: a JSON list of ``{"x", "y", "color",
  "size"}`` (``huenet.hints``).
- ``POST /api/suggest``: ``image`` or ``image_id``, ``x``, ``y``, optional ``k`` (6),
  ``hints``, ``stretch`` and ``model``: the suggested colors at that point, JSON
  ``{"suggestions": [{"color": "#rrggbb", "probability": p}, ...], "image_id": ...}``.
- ``POST /api/confidence``: ``image`` or ``image_id``, optional ``hints``, ``stretch`` and ``model``: the
  confidence map (white: sure, black: unsure) as a gray PNG of the input's size.
- ``GET /api/models``: the bundled models.
- ``GET /healthz``.

Errors answer JSON ``{"error": "..."}``: 400 bad request, 404 unknown image id, 413 too
large, 415 not an image, 422 an image that cannot be decoded, 503 (with ``Retry-After``)
when the queue is full. Uploads are limited while the body streams in; colorizing runs
in a bounded thread pool behind a bounded queue; nothing from the client becomes a path.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import hashlib
import importlib.resources
import io
import threading
from dataclasses import dataclass, field
from typing import Any

from huenet.images import DEFAULT_MAX_PIXELS, ImageError, ImageTooLarge, NotAnImage

SERVE_EXTRA_HINT = "pip install 'huenet[serve]'"
_MAX_FIELD_BYTES = 1 << 20  # a form field other than the image: 10,000 hints as JSON take about 600 KB


class RequestError(Exception):
    """A request the server refuses: an HTTP status and a one-line message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@dataclass
class ServeConfig:
    model: str | None = None
    max_upload_mb: float = 50.0
    workers: int = 1
    queue: int = 8
    max_pixels: int = DEFAULT_MAX_PIXELS
    cors_origins: list[str] = field(default_factory=list)
    cache_images: int = 16  # uploads kept for re-rendering by id (bounded by count and bytes)
    cache_bytes: int = 256 << 20


class _Uploads:
    """The last few uploads by content hash, so a page can re-render without re-uploading."""

    def __init__(self, count: int, total_bytes: int):
        self.count, self.total_bytes = count, total_bytes
        self.items: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self.lock = threading.Lock()

    def add(self, payload: bytes) -> str:
        key = hashlib.sha256(payload).hexdigest()
        with self.lock:
            self.items[key] = payload
            self.items.move_to_end(key)
            while len(self.items) > self.count or sum(map(len, self.items.values())) > self.total_bytes:
                self.items.popitem(last=False)
        return key

    def get(self, key: str) -> bytes | None:
        with self.lock:
            payload = self.items.get(key)
            if payload is not None:
                self.items.move_to_end(key)
            return payload


class _Limiter:
    """At most ``workers`` jobs running and ``queue`` waiting; one more is refused (503)."""

    def __init__(self, workers: int, queue: int):
        self.capacity = workers + queue
        self.taken = 0
        self.lock = threading.Lock()

    def acquire(self) -> bool:
        with self.lock:
            if self.taken >= self.capacity:
                return False
            self.taken += 1
            return True

    def release(self) -> None:
        with self.lock:
            self.taken -= 1


def _bundled_models() -> list[dict[str, Any]]:
    from huenet.modelfile import bundled_model_path, bundled_models, read_metadata

    models = []
    for name in bundled_models():
        metadata = read_metadata(bundled_model_path(name))
        settings = metadata.get("settings", {})
        models.append(
            {
                "name": name,
                "preset": metadata.get("preset"),
                "working_size": settings.get("working_size"),
                "vividness": settings.get("vividness", 0.0),
                "vivid": "vividness" in settings.get("vivid", {}),
                "vivid_vividness": settings.get("vivid", {}).get("vividness"),
                "hints": bool(settings.get("hint_inputs")),
            }
        )
    return models


def _parse_bool(name: str, value: str | None) -> bool:
    if value is None or value == "":
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise RequestError(400, f"{name} must be true or false, got {value[:40]!r}")


def _parse_vividness(value: str | None) -> float | None:
    from huenet.inference import VIVIDNESS_RANGE

    if value is None or value.strip() == "":
        return None
    low, high = VIVIDNESS_RANGE
    try:
        number = float(value)
    except ValueError:
        raise RequestError(400, f"vividness must be a number from {low:g} to {high:g}, got {value[:40]!r}") from None
    if not low <= number <= high:
        raise RequestError(400, f"vividness must be from {low:g} to {high:g}, got {number:g}")
    return number


class _Recent:
    """The last few results by key (thread-safe, least recently used dropped first): the page
    re-renders after each hint with only the image id and the hints, so the server keeps
    what does not change with them."""

    def __init__(self, count: int = 4):
        self.count = count
        self.items: collections.OrderedDict[Any, Any] = collections.OrderedDict()
        self.lock = threading.Lock()

    def peek(self, key: Any) -> Any:
        """The value kept for ``key``, or None."""
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
            return self.items.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.count:
                self.items.popitem(last=False)

    def get(self, key: Any, make: Any) -> Any:
        """The value kept for ``key``, or ``make()`` kept (computed outside the lock)."""
        value = self.peek(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value


_decoded = _Recent()  # uploads decoded, by (image id, pixel limit)
_outputs = _Recent()  # the network's outputs without hints, by (image id, pixel limit, model file)
_features = _Recent()  # what a network that reads hints computes without them (``Colorizer.network_outputs``)


def _read(image_id: str | None, payload: bytes, max_pixels: int) -> Any:
    from huenet.images import read_image

    if not image_id:
        return read_image(payload, max_pixels=max_pixels)
    return _decoded.get((image_id, max_pixels), lambda: read_image(payload, max_pixels=max_pixels))


def _png(image: Any, threads: int = 1) -> bytes:
    """``image`` as PNG bytes, its strips deflated in ``threads`` threads (a 1 MP result: 0.055 s
    in one, 0.035 s in two, 2026-12-06)."""
    from huenet.images import encode_image

    buffer = io.BytesIO()
    encode_image(image, buffer, "result.png", threads)  # the CLI's PNG writer and settings
    return buffer.getvalue()


def colorize_png(
    payload: bytes,
    model_name: str | None,
    vivid: bool,
    vividness: float | None,
    max_pixels: int,
    hints: list | None = None,
    image_id: str | None = None,
    stretch: bool = False,
) -> bytes:
    """Colorize an uploaded file's bytes -> PNG bytes (runs in a worker thread)."""
    from huenet.inference import Colorizer, Decoding
    from huenet.modelfile import load_model

    image = _read(image_id, payload, max_pixels)
    colorizer = Colorizer(load_model(model_name), Decoding(vivid=vivid, vividness=vividness, stretch=stretch))
    key = (image_id, max_pixels, colorizer.model.source, stretch)  # the stretch changes what the network sees
    if image_id and not colorizer.model.network_reads_hints:
        # Hints act after the network alone: its outputs for this image serve every re-render.
        (outputs,) = _outputs.get(key, lambda: colorizer.network_outputs([image]))
        return _png(colorizer.compose(image, colorizer.honor_hints(image, outputs, hints)), colorizer.threads)
    # A network that reads hints: its hint-free part (the encoder) is computed once per image.
    kept = _features.peek(key) if image_id else None  # filled whole before it is kept: later requests only read it
    fresh = {} if image_id and kept is None else None
    (ab,) = colorizer.predict_ab([image], [hints] if hints else None, reuse=kept if kept is not None else fresh)
    if fresh:  # the NumPy engine filled it (Keras keeps nothing)
        _features.put(key, fresh)
    return _png(colorizer.compose(image, ab), colorizer.threads)


def suggest_json(
    payload: bytes,
    model_name: str | None,
    max_pixels: int,
    hints: list | None,
    image_id: str,
    x: float,
    y: float,
    k: int,
    stretch: bool = False,
) -> dict[str, Any]:
    """Suggested colors at a point (runs in a worker thread)."""
    from huenet import guided

    image = _read(image_id, payload, max_pixels)
    return {"suggestions": guided.suggest_colors(image, x, y, k, hints, _plain_colorizer(model_name, stretch))}


def confidence_png(
    payload: bytes, model_name: str | None, max_pixels: int, hints: list | None, image_id: str, stretch: bool = False
) -> bytes:
    """The confidence map as a gray PNG (runs in a worker thread)."""
    from huenet import guided

    image = _read(image_id, payload, max_pixels)
    level = guided.confidence(image, hints, _plain_colorizer(model_name, stretch))
    return _png(guided.confidence_image(level))


def _plain_colorizer(model_name: str | None, stretch: bool) -> Any:
    """The model's Colorizer at its calibrated decoding, with the page's stretch."""
    from huenet.inference import Colorizer, Decoding
    from huenet.modelfile import load_model

    return Colorizer(load_model(model_name), Decoding(stretch=stretch))


def _parse_hints(value: Any) -> list | None:
    import json

    from huenet.guided import parse_hint_data
    from huenet.hints import HintError

    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RequestError(400, "hints must be a plain form field (JSON), not a file")
    try:
        data = json.loads(value)
    except ValueError as problem:
        raise RequestError(400, f"hints: not JSON ({problem})") from None
    if not isinstance(data, list):
        raise RequestError(400, "hints must be a JSON list of {x, y, color, size}")
    try:
        return parse_hint_data(data)
    except HintError as problem:
        raise RequestError(400, f"hints: {problem}") from None


def _parse_number(name: str, value: Any, low: float, high: float, whole: bool = False) -> float:
    if not isinstance(value, str) or not value.strip():
        raise RequestError(400, f"{name} is required")
    try:
        number = int(value) if whole else float(value)
    except ValueError:
        raise RequestError(400, f"{name} must be a {'whole ' if whole else ''}number, got {value[:40]!r}") from None
    if not low <= number <= high:
        raise RequestError(400, f"{name} must be from {low:g} to {high:g}, got {number:g}")
    return number


def create_app(config: ServeConfig) -> Any:
    """The Starlette application (routes, limits, worker pool)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    from huenet.hints import HintError
    from huenet.modelfile import DEFAULT_MODEL, ModelFileError, bundled_models, bundled_name, load_model

    limit = int(config.max_upload_mb * 1024 * 1024)
    pool = concurrent.futures.ThreadPoolExecutor(max(1, config.workers), thread_name_prefix="huenet-colorize")
    limiter = _Limiter(max(1, config.workers), max(0, config.queue))
    uploads = _Uploads(config.cache_images, config.cache_bytes)
    page = (importlib.resources.files("huenet") / "web" / "index.html").read_text(encoding="utf-8")
    page = page.replace("__MAX_UPLOAD_MB__", f"{config.max_upload_mb:g}")
    models_json = _bundled_models()
    load_model(config.model)  # a bad --model fails at start, not on the first request
    default_name = bundled_name(config.model or DEFAULT_MODEL)  # the page's choice starts on it

    def _takes_hints(model_name: str | None) -> bool:
        return bool(load_model(model_name).settings.get("hint_inputs"))

    def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    async def read_form(request: Request) -> Any:
        """The multipart form, read with the upload limit enforced while the body streams in."""
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise RequestError(400, "bad Content-Length")
            if int(length) > limit:
                raise RequestError(
                    413, f"upload of {int(length) / 1048576:.1f} MB is over the {config.max_upload_mb:g} MB limit"
                )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise RequestError(413, f"upload is over the {config.max_upload_mb:g} MB limit")
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise RequestError(400, "send multipart/form-data with a field named image")
        try:
            return await Request(request.scope, replay).form(max_files=1, max_fields=12, max_part_size=_MAX_FIELD_BYTES)
        except Exception as problem:  # noqa: BLE001  malformed multipart bodies raise several types
            if "maximum size" in str(problem).lower():
                raise RequestError(413, f"a form field (hints?) is over {_MAX_FIELD_BYTES // 1024} KB") from None
            raise RequestError(400, f"malformed multipart body ({problem})") from None

    async def parse_request(request: Request, extra: tuple[str, ...] = ()) -> dict[str, Any]:
        """The image (uploaded now, or by id), model and hints of a form, checked; RequestError otherwise."""
        form = await read_form(request)
        try:
            upload = form.get("image")
            image_id = form.get("image_id")
            if upload is not None and hasattr(upload, "read"):
                payload = await upload.read()
                if not payload:
                    raise RequestError(400, "the image field is empty")
                image_id = uploads.add(payload)
            elif isinstance(image_id, str) and image_id:
                payload = uploads.get(image_id)
                if payload is None:
                    raise RequestError(
                        404, "unknown image_id (uploads are kept for a while only); send the image again"
                    )
            else:
                raise RequestError(400, "no image: send a file in the multipart field 'image'")
            for name in ("model", "vivid", "vividness", "stretch", "image_id", *extra):
                if form.get(name) is not None and not isinstance(form.get(name), str):
                    raise RequestError(400, f"{name} must be a plain form field, not a file")
            model_name = form.get("model") or config.model
            if model_name is not None and bundled_name(model_name) is None:
                raise RequestError(
                    400, f"unknown model {str(model_name)[:60]!r}; choose one of {', '.join(bundled_models())}"
                )
            hints = _parse_hints(form.get("hints"))
            if hints and not _takes_hints(model_name):
                raise RequestError(400, f"model {model_name or default_name} does not take color hints")
            fields = {name: form.get(name) for name in ("vivid", "vividness", "stretch", *extra)}
        finally:
            await form.close()  # removes the spooled upload file, whatever happened
        return {"payload": payload, "image_id": image_id, "model": model_name, "hints": hints, **fields}

    async def run_job(function: Any, *arguments: Any) -> Any:
        """Run ``function`` in the worker pool behind the queue; RequestError for what it refuses."""
        if not limiter.acquire():
            raise RequestError(503, "busy: the colorizing queue is full; try again shortly", {"Retry-After": "2"})
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, function, *arguments)
        except ImageTooLarge as problem:
            raise RequestError(413, str(problem).replace("--max-pixels", "the server's pixel limit")) from None
        except NotAnImage as problem:
            raise RequestError(415, str(problem)) from None
        except HintError as problem:
            raise RequestError(400, str(problem)) from None
        except (ImageError, ModelFileError, ValueError) as problem:
            raise RequestError(422, str(problem)) from None
        except MemoryError:
            raise RequestError(413, "out of memory colorizing this image") from None
        finally:
            limiter.release()

    async def colorize_endpoint(request: Request) -> Response:
        try:
            job = await parse_request(request)
            vivid = _parse_bool("vivid", job["vivid"])
            vividness = _parse_vividness(job["vividness"])
            png = await run_job(
                colorize_png,
                job["payload"],
                job["model"],
                vivid,
                vividness,
                config.max_pixels,
                job["hints"],
                job["image_id"],
                _parse_bool("stretch", job["stretch"]),
            )
        except RequestError as refused:
            return error(refused.status, str(refused), refused.headers)
        return Response(
            png, media_type="image/png", headers={"X-Huenet-Image-Id": job["image_id"], "Cache-Control": "no-store"}
        )

    async def suggest_endpoint(request: Request) -> Response:
        try:
            job = await parse_request(request, ("x", "y", "k"))
            x = _parse_number("x", job["x"], 0, 1e9)
            y = _parse_number("y", job["y"], 0, 1e9)
            k = int(_parse_number("k", job["k"] or "6", 1, 32, whole=True))
            stretch = _parse_bool("stretch", job["stretch"])
            answer = await run_job(
                suggest_json,
                job["payload"],
                job["model"],
                config.max_pixels,
                job["hints"],
                job["image_id"],
                x,
                y,
                k,
                stretch,
            )
        except RequestError as refused:
            return error(refused.status, str(refused), refused.headers)
        return JSONResponse({**answer, "image_id": job["image_id"]}, headers={"Cache-Control": "no-store"})

    async def confidence_endpoint(request: Request) -> Response:
        try:
            job = await parse_request(request)
            stretch = _parse_bool("stretch", job["stretch"])
            png = await run_job(
                confidence_png, job["payload"], job["model"], config.max_pixels, job["hints"], job["image_id"], stretch
            )
        except RequestError as refused:
            return error(refused.status, str(refused), refused.headers)
        return Response(
            png, media_type="image/png", headers={"X-Huenet-Image-Id": job["image_id"], "Cache-Control": "no-store"}
        )

    async def models_endpoint(request: Request) -> Response:
        return JSONResponse({"models": models_json, "default": default_name})

    async def health_endpoint(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def page_endpoint(request: Request) -> Response:
        return HTMLResponse(
            page,
            headers={
                "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                "connect-src 'self' blob:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'"
            },
        )

    middleware = []
    if config.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=config.cors_origins,
                allow_methods=["GET", "POST"],
                expose_headers=["X-Huenet-Image-Id"],
            )
        )
    routes = [
        Route("/", page_endpoint),
        Route("/healthz", health_endpoint),
        Route("/api/models", models_endpoint),
        Route("/api/colorize", colorize_endpoint, methods=["POST"]),
        Route("/api/suggest", suggest_endpoint, methods=["POST"]),
        Route("/api/confidence", confidence_endpoint, methods=["POST"]),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.pool = pool
    return app


def serve(host: str, port: int, config: ServeConfig, open_browser: bool = False) -> None:
    """Run the server until interrupted; prints the page's address."""
    import sys

    import uvicorn

    if host in ("0.0.0.0", "::", ""):
        print(
            f"huenet: warning: listening on all interfaces ({host or '*'}): anyone who can reach this "
            "machine can use the page; use --host 127.0.0.1 to keep it local",
            file=sys.stderr,
        )
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    shown = f"[{host}]" if ":" in host else host

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.05)
        bound = port
        with contextlib.suppress(Exception):  # the real port when --port 0 let the system choose
            bound = server.servers[0].sockets[0].getsockname()[1]
        address = f"http://{shown}:{bound}/"
        print(f"huenet: serving on {address} (Ctrl+C stops)", flush=True)
        if open_browser:
            import webbrowser

            webbrowser.open(address)

    async def main() -> None:
        task = asyncio.create_task(announce())
        await server.serve()
        task.cancel()

    # Ctrl+C is how a server is stopped, not an error. uvicorn catches the SIGINT itself and
    # re-raises it once it has shut down; whether that re-raise reaches here as a
    # KeyboardInterrupt or asyncio.run returns first depends on timing, so both ways end
    # with the same message. A server that could not start exits through SystemExit instead.
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        app.state.pool.shutdown(wait=False, cancel_futures=True)
    print("huenet: stopped", file=sys.stderr)
