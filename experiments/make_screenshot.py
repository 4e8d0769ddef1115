"""The README's screenshot of huenet serve with color hints in use.

Starts ``huenet serve`` on 127.0.0.1 (stopped by its pid), drives Debian's headless Chromium:
uploads a gray photo (scikit-image's ``astronaut``, a NASA portrait, made gray), places two
hints with the page's own picker (a suggested color, and one typed color), and saves the page.

    python experiments/make_screenshot.py --output docs/images/serve-page.png
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="docs/images/serve-page.png")
    arguments = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from skimage import data

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "huenet", "serve", "--port", str(port)])
    scratch = Path(tempfile.mkdtemp())
    try:
        for _ in range(240):  # bounded: the server answers within seconds
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.25)
        photo = scratch / "astronaut.png"
        Image.fromarray(np.asarray(Image.fromarray(data.astronaut()).convert("L"))).save(photo)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,1150"):
            options.add_argument(argument)
        chrome = webdriver.Chrome(
            service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")), options=options
        )
        try:
            chrome.get(f"http://127.0.0.1:{port}/")
            chrome.find_element(By.ID, "files").send_keys(str(photo))
            wait = WebDriverWait(chrome, 120)
            wait.until(
                lambda page: page.execute_script(
                    "const img = document.querySelector('.card .after'); return img && img.complete && img.naturalWidth > 0;"
                )
            )
            layer = chrome.find_element(By.CSS_SELECTOR, ".card .hint-layer")
            size = layer.size
            for (fx, fy), typed in (((0.47, 0.82), None), ((0.86, 0.30), "#c8302c")):  # the suit, the flag's stripe
                before = chrome.execute_script("return document.querySelector('a.download').href;")
                ActionChains(chrome).move_to_element_with_offset(
                    layer, int((fx - 0.5) * size["width"]), int((fy - 0.5) * size["height"])
                ).click().perform()
                wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, ".card .picker .swatch"))
                if typed is None:
                    chrome.find_elements(By.CSS_SELECTOR, ".card .picker .swatch")[0].click()
                else:
                    chrome.execute_script(
                        "const i = document.querySelector('.card .picker .other'); i.value = arguments[0];"
                        "i.dispatchEvent(new Event('change'));",
                        typed,
                    )
                wait.until(
                    lambda page, before=before: page.execute_script(
                        "return document.querySelector('a.download').href !== arguments[0];", before
                    )
                )
            chrome.execute_script(
                "const r = document.querySelector('.card .compare-range'); r.value = 20;"
                "r.dispatchEvent(new Event('input'));"
            )  # mostly the colorized side
            time.sleep(1)
            Path(arguments.output).parent.mkdir(parents=True, exist_ok=True)
            chrome.save_screenshot(arguments.output)
            print(f"wrote {arguments.output}")
        finally:
            chrome.quit()
    finally:
        server.send_signal(signal.SIGINT)  # by its pid
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
