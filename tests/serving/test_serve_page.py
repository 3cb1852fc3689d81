"""The page in a real browser: Playwright drives Debian's chromium to draw digits with the mouse on a model trained
here on the real MNIST, and to upload a picture. It takes a screenshot into its own temporary folder; the picture of
docs/serving.md is made on purpose, by the same test with ``SERVE_PAGE_PNG`` naming where to write it:
``SERVE_PAGE_PNG=docs/serve_page.png .venv/bin/python -m pytest tests/serving/test_serve_page.py -m slow``."""

import math
import os
import shutil
from pathlib import Path

import pytest
from helpers.commands import run_module
from helpers.pictures import seven_png
from helpers.serving import serving

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
PICTURE = os.environ.get("SERVE_PAGE_PNG")  # where to write docs/serving.md's picture, if anywhere

# Strokes as fractions of the pad, one stroke per digit, drawn as a hand would.
STROKES = {
    7: [(0.22, 0.2), (0.5, 0.2), (0.78, 0.2), (0.65, 0.45), (0.5, 0.85)],
    1: [(0.5, 0.15), (0.5, 0.5), (0.5, 0.85)],
    0: [(0.5 + 0.22 * math.sin(step * math.pi / 12), 0.5 - 0.33 * math.cos(step * math.pi / 12)) for step in range(26)],
}


@pytest.fixture(scope="module")
def mnist_run(real_mnist, tmp_path_factory):
    """A run of 300 steps on the real MNIST: enough to read a drawn digit, in a fraction of the default fit."""
    workdir = tmp_path_factory.mktemp("mnist_run")
    args = [
        f"--data.data_dir={real_mnist}",
        "--trainer.max_steps=300",
        "--trainer.val_check_interval=300",
        "--trainer.limit_val_batches=0.1",
        "--trainer.limit_test_batches=0.1",
        "--trainer.enable_progress_bar=false",
    ]
    result = run_module("lit_rnn.fit", args, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def draw(page, points) -> None:
    box = page.locator("#pad").bounding_box()
    xy = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for point in xy[1:]:
        page.mouse.move(*point, steps=4)
    page.mouse.up()


def shown_digit(page) -> str:
    page.wait_for_function("document.getElementById('answer').textContent !== '?'", timeout=30_000)
    return page.locator("#answer").text_content()


def test_draw_digits_and_upload_a_picture(mnist_run, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    seven = tmp_path / "seven.png"
    seven.write_bytes(seven_png())
    with serving(mnist_run) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 640})
        page.goto(server.url)
        page.set_input_files("#upload", str(seven))
        assert shown_digit(page) == "7"
        for digit in (1, 0, 7):
            page.click("#clear")
            draw(page, STROKES[digit])
            assert shown_digit(page) == str(digit), f"drew a {digit}"
        assert page.locator(".bar").count() == 10 and page.locator("#strip .row").count() == 28
        assert "It settles on 7 after row" in page.locator("#mind").text_content()
        page.screenshot(path=tmp_path / "serve_page.png", full_page=True)
        assert (tmp_path / "serve_page.png").read_bytes().startswith(b"\x89PNG")
        if PICTURE:
            shutil.copyfile(tmp_path / "serve_page.png", PICTURE)

        phone = browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True)
        phone.goto(server.url)
        pad = phone.locator("#pad").bounding_box()
        assert pad["x"] >= 0 and pad["x"] + pad["width"] <= 390  # the pad fits a phone's width
        browser.close()
