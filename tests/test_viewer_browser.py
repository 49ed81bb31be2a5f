"""The viewer in a real headless browser: JupyterLab runs notebooks/viewer.ipynb in its
smoke setting and its widgets render and answer. Not run in CI (marker ``browser``,
skipped unless MRCNN_BROWSER_TEST=1): it needs Debian's Chromium and its driver and
selenium (browsers that download themselves at install time are not used):

    apt-get install -y chromium chromium-driver && pip install selenium
    MRCNN_BROWSER_TEST=1 python -m pytest -m browser tests/test_viewer_browser.py

The notebook runs from a copy in a temporary folder (JupyterLab saves what it runs), and
a screenshot of the viewer goes to notebooks/figures/viewer.png (the README's picture).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "viewer.ipynb"
SCREENSHOT = REPO / "notebooks" / "figures" / "viewer.png"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SERVER_START_S, RUN_S = 90, 300

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(os.environ.get("MRCNN_BROWSER_TEST") != "1",
                       reason="a headless-browser check: set MRCNN_BROWSER_TEST=1 (needs "
                              "chromium, chromium-driver and selenium)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, server: subprocess.Popen, log: Path) -> None:
    """Until ``url`` answers 200; fails with the server's log if it exits or times out."""
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n"
                f"{log.read_text()[-3000:]}")


@pytest.fixture
def jupyterlab(tmp_path):
    """``(base url, token)`` of a JupyterLab serving a copy of the viewer notebook, its
    kernels in the smoke setting, its settings and state in ``tmp_path``."""
    pytest.importorskip("jupyterlab")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)  # no news or update toasts over the notebook
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "MRCNN_SMOKE": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    log = tmp_path / "jupyterlab.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_server(f"{base}/api/status?token={token}", server, log)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture
def browser():
    """Headless Chromium through Debian's chromedriver."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1800,1500", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def test_the_viewer_renders_and_answers_in_jupyterlab(jupyterlab, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    base, token = jupyterlab
    browser.get(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
    wait = WebDriverWait(browser, RUN_S)
    wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, ".jp-Notebook")))
    wait.until(seen.presence_of_element_located(
        (By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator, .jp-KernelStatus")))
    browser.find_element(By.XPATH, "//div[contains(@class, 'lm-MenuBar-itemLabel') and "
                                   "text()='Run']").click()
    wait.until(seen.element_to_be_clickable(
        (By.XPATH, "//li[contains(@class, 'lm-Menu-item')][.//div[text()='Run All Cells']]"))
    ).click()

    slider = wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, ".widget-slider")))
    viewer = slider.find_element(By.XPATH, "./ancestor::div[contains(@class, "
                                           "'jp-OutputArea-output')]")
    wait.until(lambda _: len(viewer.find_elements(By.CSS_SELECTOR, ".widget-image")) == 4)
    assert len(viewer.find_elements(By.CSS_SELECTOR, ".widget-slider")) == 2  # image, score
    # The last cell selects the first ground-truth object; "all instances" shows every one.
    wait.until(lambda _: viewer.find_elements(By.XPATH, ".//tr[contains(@style, 'bold')]"))
    chooser = Select(viewer.find_element(By.CSS_SELECTOR, ".widget-dropdown select"))
    chooser.select_by_visible_text("all instances")
    wait.until(lambda _: not viewer.find_elements(By.XPATH, ".//tr[contains(@style, 'bold')]"))
    images = viewer.find_elements(By.CSS_SELECTOR, ".widget-image")
    assert all(image.get_attribute("src").startswith("blob:") for image in images)
    browser.execute_script("arguments[0].scrollIntoView(true);", viewer)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert viewer.screenshot(str(SCREENSHOT)), "the screenshot was not written"
