"""Render the HTML report in headless Chromium: the screenshot is not blank, the table is there.

Needs Debian's ``chromium`` (``.ci/run`` installs it); skipped with the reason where it is absent.
"""

import shutil
import subprocess

import numpy as np
import pytest

from poolbench.results.report import write_report
from tests.results.fakeruns import write_benchmark

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium; .ci/run does it)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium(tmp_path, *args):
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def html_url(tmp_path_factory):
    runs = write_benchmark(tmp_path_factory.mktemp("runs"), epochs=10)
    html_path, _ = write_report(runs, tmp_path_factory.mktemp("report"))
    return html_path.resolve().as_uri()


def test_leaderboard_is_in_the_rendered_dom(tmp_path, html_url):
    proc = _chromium(tmp_path, "--dump-dom", html_url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'id="leaderboard"' in dom and "<td" in dom and "resnet56-cifar100" in dom
    assert 'id="provenance"' in dom


def test_screenshot_is_not_blank(tmp_path, html_url):
    from PIL import Image

    shot = tmp_path / "shot.png"
    proc = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", html_url)
    assert shot.exists(), proc.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB")).astype(np.int64)
    assert img.shape[:2] == (2000, 1280)
    # a blank page is one colour; the report has a coloured header, tables and charts
    assert img.std() > 20
    colours = np.unique((img[..., 0] << 16) | (img[..., 1] << 8) | img[..., 2])
    assert colours.size > 500
