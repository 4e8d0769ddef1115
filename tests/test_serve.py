"""huenet serve against a real server on 127.0.0.1, and its page in headless Chromium."""

import http.client
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port
from PIL import Image

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


def _start_server(port, log, *options):
    """``huenet serve`` on 127.0.0.1:port, its output in ``log``; True once /healthz answers
    (bounded: the server answers within seconds), False if it never does or exits first."""
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "huenet", "serve", "--port", str(port), *options],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if _request(port, "GET", "/healthz")[0] == 200:
                return process, True
        except OSError:
            time.sleep(0.25)
    return process, False


def _stop_server(process):
    """Ctrl+C to the server we started, by its pid, never by name; killed if it lingers. -> exit code"""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    process, up = _start_server(port, log, "--max-upload-mb", "50", "--workers", "1", "--queue", "2")
    try:
        if not up:
            pytest.fail(f"server did not start: {log.read_text()[-2000:]}")
        yield port
    finally:
        _stop_server(process)


def test_ctrl_c_stops_the_server_cleanly(tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    process, _ = _start_server(port, log)
    code = _stop_server(process)
    output = log.read_text()
    assert "serving on http://127.0.0.1:" in output, output
    assert code == 0 and "huenet: stopped" in output and "error" not in output, (code, output)


def _request(port, method, path, body=None, headers=None, timeout=120):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {key.lower(): value for key, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def _multipart(fields: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        if isinstance(value, tuple):
            filename, payload = value
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n".encode()
                + payload
                + b"\r\n"
            )
        else:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _colorize(port, fields):
    body, content_type = _multipart(fields)
    return _request(port, "POST", "/api/colorize", body, {"Content-Type": content_type})


def _encoded(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def _gray(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)


def test_the_page_and_the_small_routes(server):
    status, headers, page = _request(server, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    text = page.decode()
    assert 'type="file"' in text and "Download" in text and "http://" not in text.replace("http://www.w3.org", "")
    assert "access-control-allow-origin" not in {key.lower() for key in headers}  # no CORS unless asked for
    assert json.loads(_request(server, "GET", "/healthz")[2]) == {"status": "ok"}
    models = json.loads(_request(server, "GET", "/api/models")[2])
    from huenet.modelfile import bundled_models, bundled_name

    assert {model["name"] for model in models["models"]} == set(bundled_models())
    assert models["default"] == bundled_name("default")  # the page starts on the model an alias-free name gives


@pytest.mark.parametrize("kind", ["png", "jpeg", "tiff16"])
def test_images_come_back_as_same_size_color_pngs(server, kind):
    if kind == "tiff16":
        payload = _encoded(Image.fromarray(_gray(45, 70).astype(np.uint16) * 257), "TIFF")
    else:
        payload = _encoded(Image.fromarray(_gray(45, 70)), kind.upper())
    status, headers, body = _colorize(server, {"image": (f"photo.{kind}", payload), "vivid": "true"})
    assert status == 200, body[:300]
    assert headers["content-type"] == "image/png" and len(headers["x-huenet-image-id"]) == 64
    with Image.open(io.BytesIO(body)) as result:
        assert result.format == "PNG" and result.size == (70, 45) and result.mode == "RGB"


def test_re_rendering_by_image_id_needs_no_upload(server):
    payload = _encoded(Image.fromarray(_gray(30, 40, seed=2)), "PNG")
    status, headers, first = _colorize(server, {"image": ("a.png", payload), "vividness": "0"})
    assert status == 200
    status, _, again = _colorize(server, {"image_id": headers["x-huenet-image-id"], "vividness": "3"})
    assert status == 200
    a, b = (np.asarray(Image.open(io.BytesIO(data)), dtype=int) for data in (first, again))
    assert a.shape == b.shape == (30, 40, 3) and np.abs(a - b).max() > 0  # the new setting took effect
    status, _, body = _colorize(server, {"image_id": "0" * 64})
    assert status == 404 and "send the image again" in json.loads(body)["error"]


def test_bad_inputs_get_a_4xx_with_a_message_and_the_server_carries_on(server):
    truncated = _encoded(Image.fromarray(_gray(64, 64)), "JPEG")[:300]
    bomb = _encoded(Image.new("1", (20000, 20000)), "PNG")  # 400 MP from a few kilobytes
    cases = [
        ({"image": ("notes.png", b"this is not a picture\n")}, 415, "not an image"),
        ({"image": ("cut.jpg", truncated)}, 422, "cannot decode"),
        ({"image": ("bomb.png", bomb)}, 413, "too large"),
        ({"image": ("x.png", b"")}, 400, "empty"),
        ({"vivid": "true"}, 400, "no image"),
        ({"image": ("x.png", truncated), "vivid": "maybe"}, 400, "vivid must be true or false"),
        ({"image": ("x.png", truncated), "model": "nope"}, 400, "unknown model"),
    ]
    for fields, expected, words in cases:
        status, headers, body = _colorize(server, fields)
        assert status == expected, (fields.keys(), status, body[:200])
        assert headers["content-type"] == "application/json" and words in json.loads(body)["error"]
    status, _, body = _request(server, "POST", "/api/colorize", b"plain", {"Content-Type": "text/plain"})
    assert status == 400
    assert _request(server, "GET", "/healthz")[0] == 200


def test_a_60_mb_upload_is_refused_while_it_streams(server):
    body = b"\0" * (60 << 20)
    status, _, answer = _request(
        server, "POST", "/api/colorize", body, {"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert status == 413 and "50 MB limit" in json.loads(answer)["error"]

    def chunks():  # no Content-Length: the server must count as the body streams in
        for _ in range(60):
            yield b"\0" * (1 << 20)

    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=120)
    try:
        connection.putrequest("POST", "/api/colorize")
        connection.putheader("Content-Type", "multipart/form-data; boundary=x")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        try:
            for chunk in chunks():
                connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            connection.send(b"0\r\n\r\n")
        except OSError:
            pass  # the server may answer and close before the whole body is sent
        response = connection.getresponse()
        assert response.status == 413
    finally:
        connection.close()
    assert _request(server, "GET", "/healthz")[0] == 200


def test_a_full_queue_answers_503_with_retry_after(server):
    import concurrent.futures

    payload = _encoded(Image.fromarray(_gray(1500, 2000, seed=5)), "PNG", compress_level=0)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _colorize(server, {"image": ("big.png", payload)}), range(8)))
    statuses = sorted(status for status, _, _ in answers)
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 1 and 503 in statuses, statuses
    assert all(headers.get("retry-after") for status, headers, _ in answers if status == 503)
    assert _request(server, "GET", "/healthz")[0] == 200


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def _headless_chrome(webdriver, port):
    """Debian's Chromium, headless, on the page of the server at ``port``."""
    browser, driver = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1000,900",
    ):
        options.add_argument(argument)
    chrome = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)
    try:
        chrome.set_page_load_timeout(60)
        chrome.get(f"http://127.0.0.1:{port}/")
    except BaseException:
        chrome.quit()
        raise
    return chrome


def _upload(chrome, source):
    """Give the page a photo and wait (bounded) until its result has loaded; returns the wait."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.find_element(By.ID, "files").send_keys(str(source))
    wait = WebDriverWait(chrome, 120)
    wait.until(
        lambda page: page.execute_script(
            "const img = document.querySelector('.card .after'); return img && img.complete && img.naturalWidth > 0;"
        )
    )
    return wait


def _downloaded_png(chrome) -> bytes:
    """The bytes the first card's "Download PNG" link gives."""
    data = chrome.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(document.querySelector('a.download').href).then(r => r.arrayBuffer())"
        ".then(b => done(Array.from(new Uint8Array(b)))).catch(e => done(String(e)));"
    )
    assert isinstance(data, list), data
    return bytes(data)


@pytest.mark.skipif(
    _chromium() is None and not os.environ.get("CI"), reason="needs Debian's chromium and chromium-driver"
)
def test_the_page_in_headless_chromium(server, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By

    chrome = _headless_chrome(webdriver, server)
    try:
        source = tmp_path / "family.png"
        Image.fromarray(_gray(240, 360, seed=9)).save(source)
        _upload(chrome, source)
        size = chrome.execute_script(
            "const img = document.querySelector('.card .after'); return [img.naturalWidth, img.naturalHeight];"
        )
        assert size == [360, 240]
        signature = _downloaded_png(chrome)
        assert signature[:8] == b"\x89PNG\r\n\x1a\n"
        # The slider untouched, the page leaves the vividness to the model, whose calibrated
        # decoding depends on the photo's size: the result is what huenet.colorize gives.
        from huenet import colorize

        shown = np.asarray(Image.open(io.BytesIO(signature)).convert("RGB")).astype(int)
        assert np.abs(shown - np.asarray(colorize(str(source)))).max() <= 1
        assert chrome.find_element(By.CSS_SELECTOR, "a.download").get_attribute("download") == "family-color.png"
        shot = Path(os.environ.get("HUENET_SCREENSHOT_DIR", tmp_path)) / "serve-page.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        assert chrome.save_screenshot(str(shot)) and shot.stat().st_size > 0
    finally:
        chrome.quit()


def _post(port, path, fields):
    body, content_type = _multipart(fields)
    return _request(port, "POST", path, body, {"Content-Type": content_type})


def _scene(height, width):
    """A gray scene with a bright square on a dark ground: one hint should color the square."""
    gray = np.full((height, width), 60, np.uint8)
    gray[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 170
    return gray


def test_hints_suggestions_and_confidence_through_the_api_match_the_library(server):
    import huenet

    gray = _scene(120, 160)
    payload = _encoded(Image.fromarray(gray), "PNG")
    hints = [{"x": 80, "y": 60, "color": "#c02020", "size": 8}]
    status, headers, body = _colorize(server, {"image": ("s.png", payload), "hints": json.dumps(hints)})
    assert status == 200, body[:300]
    served = np.asarray(Image.open(io.BytesIO(body)), dtype=int)
    assert np.abs(served - np.asarray(huenet.colorize(gray, hints=hints))).max() <= 1  # the same in every interface
    image_id = headers["x-huenet-image-id"]
    # Re-renders by id (the network's outputs kept from the first request): other hints, then none.
    moved = [{"x": 20, "y": 100, "color": "#2040c0", "size": 6}, *hints]
    for again in (moved, None):
        fields = {"image_id": image_id, **({"hints": json.dumps(again)} if again else {})}
        status, _, body = _colorize(server, fields)
        assert status == 200, body[:300]
        served = np.asarray(Image.open(io.BytesIO(body)), dtype=int)
        assert np.abs(served - np.asarray(huenet.colorize(gray, hints=again))).max() <= 1
    status, _, body = _post(server, "/api/suggest", {"image_id": image_id, "x": "10", "y": "10", "k": "4"})
    answer = json.loads(body)
    assert status == 200 and answer["suggestions"] == huenet.suggest_colors(gray, 10, 10, k=4)
    status, headers, body = _post(server, "/api/confidence", {"image_id": image_id, "hints": json.dumps(hints)})
    assert status == 200 and headers["content-type"] == "image/png"
    level = np.asarray(Image.open(io.BytesIO(body)), dtype=int)
    assert level.shape == (120, 160)
    assert np.abs(level - np.round(huenet.confidence(gray, hints=hints) * 255)).max() <= 1


def test_bad_hints_get_a_400_or_413_naming_the_problem(server):
    payload = _encoded(Image.fromarray(_scene(40, 60)), "PNG")
    cases = [
        ("not json", 400, "not JSON"),
        ('{"x": 1}', 400, "JSON list"),
        ('[{"x": 70, "y": 1, "color": "#ff0000"}]', 400, "outside the 60x40 image"),
        ('[{"x": 1, "y": 1, "color": "#ff00"}]', 400, "not #rrggbb"),
        ('[{"x": 1, "y": 1, "color": "#ff0000", "size": -2}]', 400, "must be positive"),
        ('[{"x": 1, "y": 1, "color": "#ff0000", "size": 1e9}]', 400, "larger than"),
        ('[{"x": NaN, "y": 1, "color": "#ff0000"}]', 400, "finite"),
        (json.dumps([{"x": 1, "y": 1, "color": "#ff0000"}] * 100_000), 413, "over 1024 KB"),
        (json.dumps([{"x": 1, "y": 1, "color": "#ff0000"}] * 12_000), 400, "at most 10000"),
    ]
    for hints, expected, words in cases:
        status, headers, body = _colorize(server, {"image": ("s.png", payload), "hints": hints})
        assert status == expected, (hints[:60], status, body[:200])
        assert words in json.loads(body)["error"], json.loads(body)["error"]
    status, _, body = _post(server, "/api/suggest", {"image": ("s.png", payload), "x": "-1", "y": "2"})
    assert status == 400 and "x must be" in json.loads(body)["error"]
    status, _, body = _post(server, "/api/suggest", {"image": ("s.png", payload), "x": "60", "y": "2"})
    assert status == 400 and "outside" in json.loads(body)["error"]
    assert _request(server, "GET", "/healthz")[0] == 200


@pytest.mark.skipif(
    _chromium() is None and not os.environ.get("CI"), reason="needs Debian's chromium and chromium-driver"
)
def test_a_hint_placed_on_the_page_colors_that_place(server, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from huenet import color

    chrome = _headless_chrome(webdriver, server)
    try:
        source = tmp_path / "square.png"
        Image.fromarray(_scene(200, 300)).save(source)
        wait = _upload(chrome, source)
        layer = chrome.find_element(By.CSS_SELECTOR, ".card .hint-layer")
        assert layer.is_displayed()
        chrome.find_element(By.CSS_SELECTOR, ".card .edit").click()  # the editing view
        width = layer.size["width"]
        # The middle of the bright square: (150, 100) in image pixels.
        ActionChains(chrome).move_to_element_with_offset(layer, 0, 0).click().perform()
        wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, ".card .picker .swatch"))
        swatches = chrome.find_elements(By.CSS_SELECTOR, ".card .picker .swatch")
        # Pick the most saturated suggestion, so the hue check below means something.
        chosen = max(swatches, key=lambda s: _chroma(s.get_attribute("title")[:7]))
        picked = chosen.get_attribute("title")[:7]
        previous = chrome.execute_script("return document.querySelector('a.download').href;")
        chosen.click()
        wait.until(
            lambda page: page.execute_script(
                "const a = document.querySelector('a.download'); return a && a.href !== arguments[0];", previous
            )
        )
        hints = chrome.execute_script("return document.querySelector('.card .hint-layer').children.length;")
        assert hints == 1 and width > 0
        shown = np.asarray(Image.open(io.BytesIO(_downloaded_png(chrome))).convert("RGB"))
        patch = color.rgb_to_lab(shown[95:106, 145:156])[..., 1:].reshape(-1, 2).mean(axis=0)
        wanted = color.rgb_to_lab(_hex_rgb(picked))[0, 0, 1:]
        hue = np.degrees(np.arctan2(patch[1], patch[0]) - np.arctan2(wanted[1], wanted[0]))
        assert abs((hue + 180) % 360 - 180) < 30, (patch, wanted, picked)
    finally:
        chrome.quit()


def _hex_rgb(hex_color: str) -> np.ndarray:
    """ "#rrggbb" -> uint8 RGB, shape (1, 1, 3)."""
    return np.array([[[int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]]], np.uint8)


def _chroma(hex_color: str) -> float:
    from huenet import color

    return float(np.hypot(*color.rgb_to_lab(_hex_rgb(hex_color))[0, 0, 1:]))


def _place_hint(chrome, wait, x, y, hex_color):
    """In the open editing view, click image pixel (x, y), give it ``hex_color`` through the
    picker's "Other color" and wait (bounded) for the re-rendered result."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    layer = chrome.find_element(By.CSS_SELECTOR, ".card .hint-layer")
    natural = chrome.execute_script("return document.querySelector('.card .after').naturalWidth;")
    scale = layer.size["width"] / natural
    offset = (x + 0.5) * scale - layer.size["width"] / 2, (y + 0.5) * scale - layer.size["height"] / 2
    ActionChains(chrome).move_to_element_with_offset(layer, *offset).click().perform()
    wait.until(lambda page: page.find_element(By.CSS_SELECTOR, ".card .picker").is_displayed())
    previous = chrome.execute_script("return document.querySelector('a.download').href;")
    chrome.execute_script(
        "const input = document.querySelector('.card .picker .other'); input.value = arguments[0];"
        "input.dispatchEvent(new Event('change'));",
        hex_color,
    )
    wait.until(
        lambda page: page.execute_script(
            "const a = document.querySelector('a.download'); return a && a.href !== arguments[0];", previous
        )
    )


@pytest.mark.skipif(
    _chromium() is None and not os.environ.get("CI"), reason="needs Debian's chromium and chromium-driver"
)
def test_two_hints_on_a_photo_in_the_editing_view_leave_a_third_region_as_it_was(server):
    """A real photo (a BSDS500 lake scene bundled in examples/): the editing view draws it at
    the window's width; a hint on the rocks and one on the sky leave the water's colors."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By

    from huenet import color

    source = Path(__file__).resolve().parents[1] / "examples" / "bsds-143090.png"
    chrome = _headless_chrome(webdriver, server)
    try:
        wait = _upload(chrome, source)
        before = np.asarray(Image.open(io.BytesIO(_downloaded_png(chrome))).convert("RGB"))
        small = chrome.find_element(By.CSS_SELECTOR, ".card .after").size["width"]
        chrome.find_element(By.CSS_SELECTOR, ".card .hint-layer").click()  # a click on the photo opens the editor
        wait.until(lambda page: page.find_element(By.CSS_SELECTOR, ".card.editing").is_displayed())
        drawn = chrome.find_element(By.CSS_SELECTOR, ".card .after").size
        window = chrome.execute_script("return [window.innerWidth, window.innerHeight];")
        # As large as the window allows: its width, or its height with room for the tools.
        assert drawn["width"] >= 0.85 * window[0] or drawn["height"] >= 0.7 * window[1], (drawn, window)
        assert drawn["width"] > 2.5 * small and drawn["height"] <= window[1], (drawn, window, small)
        assert chrome.execute_script("return document.querySelectorAll('.card .hint').length;") == 0
        _place_hint(chrome, wait, 330, 110, "#6b4a32")  # the rocks: brown
        _place_hint(chrome, wait, 60, 40, "#8098b8")  # the sky: gray-blue
        assert chrome.execute_script("return document.querySelectorAll('.card .hint').length;") == 2
        after = np.asarray(Image.open(io.BytesIO(_downloaded_png(chrome))).convert("RGB"))
        assert after.shape == before.shape == (321, 481, 3)
        water = (slice(270, 310), slice(380, 470))  # below both, across the rocks and the shore line
        change = color.rgb_to_lab(after[water])[..., 1:] - color.rgb_to_lab(before[water])[..., 1:]
        assert np.hypot(*np.moveaxis(change, -1, 0)).mean() <= 3.0
        rocks = color.rgb_to_lab(after[108:113, 328:333])[..., 1:].reshape(-1, 2).mean(axis=0)
        wanted = color.rgb_to_lab(_hex_rgb("#6b4a32"))[0, 0, 1:]
        hue = np.degrees(np.arctan2(rocks[1], rocks[0]) - np.arctan2(wanted[1], wanted[0]))
        assert abs((hue + 180) % 360 - 180) < 30 and np.hypot(*rocks) > 8, (rocks, wanted)  # the rocks: brown
        chrome.find_element(By.CSS_SELECTOR, ".card .edit").click()  # Done: back to the grid
        assert not chrome.find_elements(By.CSS_SELECTOR, ".card.editing")
    finally:
        chrome.quit()


def test_a_faded_photo_with_stretch_comes_back_as_the_library_colors_it(server):
    """The page's "Faded photo" switch: ``stretch`` reaches the network, and a re-render by id
    without it does not reuse the stretched network outputs."""
    import huenet

    photo = np.asarray(Image.open(Path(__file__).resolve().parents[1] / "examples" / "bsds-103070.png").convert("L"))
    faded = np.round(80 + 0.3 * photo).astype(np.uint8)
    payload = _encoded(Image.fromarray(faded), "PNG")
    status, headers, body = _colorize(server, {"image": ("faded.png", payload), "stretch": "true"})
    assert status == 200, body[:300]
    stretched = np.asarray(Image.open(io.BytesIO(body)), dtype=int)
    assert np.abs(stretched - np.asarray(huenet.colorize(faded, stretch=True))).max() <= 1
    status, _, body = _colorize(server, {"image_id": headers["x-huenet-image-id"], "stretch": "false"})
    assert status == 200, body[:300]
    plain = np.asarray(Image.open(io.BytesIO(body)), dtype=int)
    assert np.abs(plain - np.asarray(huenet.colorize(faded))).max() <= 1
    assert np.abs(plain - stretched).max() > 1
    status, _, body = _colorize(server, {"image": ("faded.png", payload), "stretch": "maybe"})
    assert status == 400 and "stretch must be true or false" in json.loads(body)["error"]
