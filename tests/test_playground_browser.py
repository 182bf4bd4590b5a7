"""The playground driven in a real browser: Playwright (PyPI) with Debian's chromium.

The page is clicked as a person would: 25 steps of the blog preset give the weights of
``fit(epochs=25)``; play, pause and reset; a CSV upload; layers added; the backprop view and
the loss surface. The page must log no error and ask for nothing outside 127.0.0.1.
Screenshots (playground*.png) go to a temporary folder, or to the folder named by
SCRATCHNN_SCREENSHOTS: ``SCRATCHNN_SCREENSHOTS=docs/figures`` refreshes the docs' pictures
(a plain test run leaves the working tree as it was).
"""

import functools
import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.playground import make_server
from scratchnn.xor import X, Y, build_xor_net

from helpers import serving

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)")]


@pytest.fixture(scope="module")
def server():
    with serving(make_server(port=0)) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=args)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A page on the server that records console errors and every request outside 127.0.0.1
    (which it blocks)."""
    context = browser.new_context(viewport={"width": 1240, "height": 860}, accept_downloads=True)
    page = context.new_page()
    page.errors, page.outside = [], []
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.on("pageerror", lambda error: page.errors.append(str(error)))

    def guard(route):
        if route.request.url.startswith(f"http://127.0.0.1:{server.server_address[1]}/"):
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield page
    context.close()
    assert page.errors == [], page.errors
    assert page.outside == [], page.outside


def get(page, path):
    with urllib.request.urlopen(page.base + path, timeout=60) as response:
        return response.read()


@functools.cache
def screenshots_folder():
    """$SCRATCHNN_SCREENSHOTS, else a new temporary folder (one per test session)."""
    chosen = os.environ.get("SCRATCHNN_SCREENSHOTS")
    return Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="scratchnn-playground-"))


def screenshot(page, name, **options):
    """Save <name> in `screenshots_folder()`; quantized to 256 colours with Pillow (matplotlib's
    dependency), when it is installed, to keep the figure small."""
    path = screenshots_folder() / name
    page.screenshot(path=str(path), **options)
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256)
    small.save(path, optimize=True)


def wait_until(page, script, seconds=120):
    """Poll a JS expression through page.evaluate (wait_for_function evaluates a string inside
    the page, which the page's Content-Security-Policy forbids)."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(script):
        assert time.monotonic() < deadline, f"still false after {seconds} s: {script}"
        time.sleep(0.1)


def expect_epoch(page, text):
    playwright.expect(page.get_by_test_id("epoch")).to_have_text(text, timeout=60_000)


def test_25_steps_of_the_blog_preset_are_fit_epochs_25(page, tmp_path):
    page.goto(page.base + "/?preset=blog&seed=0")
    page.wait_for_selector("[data-testid=link-1-1-0]", state="attached")
    for _ in range(25):
        page.get_by_test_id("step").click()
    expect_epoch(page, "25")
    key = page.evaluate("window.playground.id")
    (tmp_path / "model.npz").write_bytes(get(page, f"/api/model.npz?session={key}"))
    reference = build_xor_net(0, blog=True)
    reference.fit(X, Y, loss=sn.MSE(reduction="sum"), optimizer=sn.SGD(learning_rate=0.1), epochs=25,
                  batch_size=None, shuffle=False, verbose=0)
    loaded = sn.load(tmp_path / "model.npz")
    np.testing.assert_allclose(loaded.flat_parameter.value, reference.flat_parameter.value, rtol=0, atol=1e-12)
    shown = float(page.get_by_test_id("loss-train").text_content())
    assert shown == pytest.approx(reference.evaluate(X, Y, sn.MSE(reduction="sum")), abs=1e-6)
    assert page.get_by_test_id("loss-test").text_content() == "—"     # the blog has no test rows
    assert "preset=blog" in page.url and "seed=0" in page.url
    page.get_by_test_id("link-0-0-1").dispatch_event("mouseenter")    # links cross where a pointer would rest
    tip = page.get_by_test_id("tooltip").text_content()
    assert f"w = {reference.layers[0].weight.value[0, 1]:.6f}" in tip and "dL/dw" in tip
    started = time.perf_counter()
    page.get_by_test_id("play").click()                    # the blog trains past 8,000 epochs...
    wait_until(page, "Number(document.getElementById('epoch').textContent) > 8000")
    page.get_by_test_id("pause").click()                   # ...then the view after a while
    seconds, fps = time.perf_counter() - started, page.evaluate("window.playground.stats.fps")
    epochs = int(page.get_by_test_id("epoch").text_content()) - 25
    print(f"\nplay, blog preset: {epochs / seconds:.0f} epochs/s of wall time (seen in the page), page {fps:.1f} frames/s")
    playwright.expect(page.get_by_test_id("play")).to_be_visible()
    screenshot(page, "playground_blog.png")


def test_play_pause_reset_and_speed(page, server):
    page.goto(page.base + "/?dataset=circles&layers=4,2&act=tanh,tanh&lr=0.03&seed=0")
    page.wait_for_selector("[data-testid=link-0-0-0]", state="attached")
    frames_before = server.counters["frames"]
    page.get_by_test_id("play").click()
    # however slow the machine: play until 200 epochs (enough to learn the circle), then pause
    wait_until(page, "Number(document.getElementById('epoch').textContent) > 200")
    page.get_by_test_id("pause").click()
    playwright.expect(page.get_by_test_id("play")).to_be_visible()
    epoch = int(page.get_by_test_id("epoch").text_content())
    assert epoch > 200 and server.counters["frames"] > frames_before
    browser_fps = page.evaluate("window.playground.stats.fps")
    assert browser_fps > 0
    time.sleep(0.5)
    assert int(page.get_by_test_id("epoch").text_content()) == epoch          # paused: no more epochs
    stats = json.loads(get(page, "/api/stats"))
    print(f"\nplay, circles 2-4-2-2: page {browser_fps:.1f} frames/s; server {stats['frames_per_second']:.1f} "
          f"frames/s, {stats['epochs_per_second']:.0f} epochs/s (all play so far)")
    assert float(page.get_by_test_id("loss-test").text_content()) < 0.69                     # it learned
    page.get_by_test_id("show-test").check()
    screenshot(page, "playground.png", clip={"x": 0, "y": 0, "width": 1240, "height": 750})
    page.get_by_test_id("reset").click()
    expect_epoch(page, "0")


def test_upload_layers_backprop_view_and_surface(page, tmp_path):
    page.goto(page.base + "/")
    page.wait_for_selector("[data-testid=link-0-0-0]", state="attached")
    rng = np.random.default_rng(0)
    points = rng.normal(size=(120, 3))
    labels = np.where(points[:, 0] * points[:, 2] > 0, "yes", "no")
    table = "a,b,c,label\n" + "".join(f"{a:.4f},{b:.4f},{c:.4f},{t}\n" for (a, b, c), t in zip(points, labels))
    (tmp_path / "mine.csv").write_text(table)
    page.get_by_test_id("upload").set_input_files(str(tmp_path / "mine.csv"))
    playwright.expect(page.get_by_test_id("message")).to_contain_text("mine.csv: 60 training rows")
    assert "dataset=csv" in page.url
    page.get_by_test_id("plot-y").select_option("2")                       # columns a and c
    wait_until(page, "window.playground.data.plot[1] === 2")
    page.get_by_test_id("add-layer").click()
    playwright.expect(page.get_by_test_id("layer-count")).to_have_text("3 hidden layers")
    page.get_by_test_id("add-unit-2").click()
    playwright.expect(page.get_by_test_id("units-2")).to_have_text("3")
    page.get_by_test_id("act-2").select_option("relu")
    wait_until(page, "window.playground.settings.act[2] === 'relu'")
    page.wait_for_selector("[data-testid=link-3-2-1]", state="attached")     # 3 units -> 2 classes
    assert "layers=4,2,3" in page.url and "act=tanh,tanh,relu" in page.url
    page.get_by_test_id("l1").select_option("0.001")
    wait_until(page, "window.playground.settings.l1 === 0.001")
    assert "l1=0.001" in page.url
    for _ in range(5):
        page.get_by_test_id("step").click()
    expect_epoch(page, "5")
    page.get_by_test_id("explain").click()
    playwright.expect(page.get_by_test_id("explain-panel")).to_contain_text("δ")
    page.get_by_test_id("surface").click()
    playwright.expect(page.locator("#surface-note")).to_contain_text("loss around the weights")
    screenshot(page, "playground_csv.png", full_page=True)
    page.get_by_test_id("remove-layer").click()
    playwright.expect(page.get_by_test_id("layer-count")).to_have_text("2 hidden layers")
    page.get_by_test_id("upload").set_input_files(files=[{"name": "bad.csv", "mimeType": "text/csv",
                                                          "buffer": b"a,b,c\n1,2,0\n3,x,1\n1,1,0\n2,2,1\n"}])
    playwright.expect(page.get_by_test_id("message")).to_contain_text("x")
    page.errors[:] = [e for e in page.errors if "400 (Bad Request)" not in e]   # the refused upload, shown above
