"""The HTML report and its Markdown twin, on fake run directories."""

import base64
import re

import pytest

from poolbench.results.report import write_report
from tests.results.fakeruns import write_benchmark, write_run


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    runs = write_benchmark(tmp_path_factory.mktemp("runs"), epochs=8)
    html_path, md_path = write_report(runs, tmp_path_factory.mktemp("out") / "report")
    return runs, html_path, md_path, html_path.read_text(), md_path.read_text()


def test_html_holds_the_leaderboard_and_reference(report):
    runs, _, _, html, _ = report
    assert '<table class="sortable leaderboard" id="leaderboard">' in html
    assert "72.40" in html and "± 0.10" in html  # gem on resnet56-cifar100, mean ± std of 3 seeds
    assert 'class="num best"' in html and 'class="beats"' in html
    assert "non-standard (epochs=6, train_subset=5000)" in html
    assert "cv-pooling-aggregation public leaderboard" in html
    assert "71.50 ± 0.40 (n=3: 71.06, 71.60, 71.84)" in html  # avg_max, a distribution over 3 seeds
    assert "Final-epoch test accuracy" in html and "--val-split" in html  # no val runs: says so


def test_html_is_self_contained_with_embedded_images(report):
    runs, _, _, html, _ = report
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    # 2 sections x (bars + spread + curves + detectable difference), the standard section's
    # performance profile (2 columns), 5 gem runs' pool_weights.png
    assert len(images) == 8 + 1 + 5
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    picture = next((runs).glob("*-gem-s0-*/pool_weights.png")).read_bytes()
    assert base64.b64encode(picture).decode() in images
    assert not re.search(r'(src|href)="(https?:|file:|/)', html)  # nothing fetched from elsewhere


def test_every_run_has_a_provenance_row(report):
    runs, _, _, html, _ = report
    for d in runs.iterdir():
        if d.is_dir():
            assert f'<tr id="run-{d.name}">' in html
    assert "abc1234" in html and "2.13.0" in html and "2025-01-02T03:04:05" in html


def test_markdown_twin_with_image_files(report):
    _, html_path, md_path, _, md = report
    assert "| gem | **72.40 ± 0.10**▲ (n=3) |" in md
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == 8 + 1 + 5
    assert all((md_path.parent / link).is_file() for link in links)
    assert "## Provenance" in md and "abc1234" in md


def test_a_damaged_run_is_reported_not_fatal(tmp_path):
    write_run(tmp_path / "runs", seed=0)
    bad = write_run(tmp_path / "runs", seed=1)
    (bad / "result.json").write_text('{"status": "fini')
    with pytest.warns(UserWarning):
        html_path, _ = write_report(tmp_path / "runs", tmp_path / "out")
    html = html_path.read_text()
    assert "could not be read" in html and bad.name in html


def test_the_report_compares_each_pool_with_every_baseline(tmp_path):
    """The report has a section setting each pool against every baseline, one row per baseline."""
    pool = tmp_path / "custom_pool.py"
    pool.write_text("x = 1\n")
    for seed in range(2):
        write_run(tmp_path / "runs", pool="file", pool_file=f"{pool}:CustomPool", seed=seed, best=71.0 + seed)
        for name in ("avg", "max", "gem", "avgmax"):
            write_run(tmp_path / "runs", pool=name, seed=seed, best=69.0 + seed)
    html_path, md_path = write_report(tmp_path / "runs", tmp_path / "out")
    html, md = html_path.read_text(), md_path.read_text()
    assert 'id="versus"' in html and "Each pool vs every baseline" in md
    section = md.split("## Each pool vs every baseline")[1].split("\n## ")[0]
    assert "custom_pool.py:CustomPool@" in section
    rows = [line for line in section.splitlines() if line.startswith("| resnet56-cifar100")]
    assert [r.split("|")[3].strip() for r in rows] == ["avg", "max", "gem", "avgmax"]
    assert all("+2.00" in r for r in rows)


def _report_and_hang(runs, out, ready):
    """Child: write the report, stopping in the middle of writing report.html (where a SIGKILL
    found it): every file opened for writing whose name says report.html blocks after a few bytes."""
    import builtins
    import io
    import os
    import time

    real = io.open

    class Hangs:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[:16])
            self.f.flush()
            ready.send(True)
            time.sleep(60)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def opening(file, mode="r", *args, **kwargs):
        f = real(file, mode, *args, **kwargs)
        where = os.readlink(f"/proc/self/fd/{file}") if isinstance(file, int) else str(file)
        return Hangs(f) if "report.html" in where and ("w" in mode or "a" in mode) else f

    io.open = builtins.open = opening
    write_report(runs, out)


@pytest.mark.timeout(60)
def test_a_sigkill_while_the_report_is_rewritten_leaves_the_previous_complete_report(tmp_path):
    import os
    import signal

    from tests.children import start_paused_child

    runs, out = tmp_path / "runs", tmp_path / "out"
    write_run(runs, pool="avg")
    html, md = write_report(runs, out)
    before = html.read_bytes()
    write_run(runs, pool="gem")
    child = start_paused_child(_report_and_hang, runs, out, wait=40)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert html.read_bytes() == before  # the previous complete report, not 0 bytes or a part
    assert len(list(out.glob(".report.html.*.tmp"))) == 1
    write_report(runs, out)  # the next report finishes the job and removes what the kill left
    assert b"gem" in html.read_bytes() and list(out.glob(".*.tmp")) == []


def test_a_hostile_pool_label_never_lands_raw_in_the_html(tmp_path):
    import json

    hostile = "<img src=x onerror=alert(1)>"
    for seed in range(2):
        for pool in ("avg", "gem"):
            images = ("pool_weights.png",) if pool == "gem" else ()  # its caption carries the label too
            d = write_run(tmp_path / "runs", pool=pool, seed=seed, best=70.0 + seed + (pool == "gem"), images=images)
            if pool == "gem":
                cfg = json.loads((d / "config.json").read_text())
                cfg["pool"] = hostile
                (d / "config.json").write_text(json.dumps(cfg))
    html_path, md_path = write_report(tmp_path / "runs", tmp_path / "out")
    html, md = html_path.read_text(), md_path.read_text()
    assert "onerror" in html and "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in md


def test_the_report_shows_divergence_across_columns_and_the_published_block_only_where_it_belongs(report):
    _, _, _, html, md = report
    assert 'class="divergence"' in html and "1 of 2 diverged, 50% [9%, 91%]" in html
    assert '<span class="diverged"' in html and "Wilson score 95% interval" in md
    # across columns (standard: avg and gem have runs in both columns): P(gem > avg) is 1 on
    # resnet56 and 2 of 4 pairs on mobilenetv2, 0.75 on average
    assert 'id="across"' in html and "<td>0.75 [" in html and "P(pool &gt; avg)" in html
    assert "## Across columns" in md and "| gem | 5 |" in md


def test_no_published_block_beside_a_toy_column(tmp_path):
    for seed in range(2):
        write_run(tmp_path / "runs", "cnn4", "patterns", "avg", seed=seed, best=80.0 + seed)
    html_path, md_path = write_report(tmp_path / "runs", tmp_path / "out")
    html, md = html_path.read_text(), md_path.read_text()
    assert 'id="published-ref"' not in html and "cv-pooling-aggregation" not in html
    assert "Published reference" not in md


def test_the_comparison_tables_wrap_inside_the_page(tmp_path):
    pool = tmp_path / "p.py"
    pool.write_text("x = 1\n")
    for seed in range(2):
        write_run(tmp_path / "runs", pool="avg", seed=seed, best=70.0 + seed)
        write_run(tmp_path / "runs", pool="file", pool_file=f"{pool}:CustomPool", seed=seed, best=71.0 + seed)
    html = write_report(tmp_path / "runs", tmp_path / "out")[0].read_text()
    assert '<div class="tablewrap"><table class="versus">' in html and '<td class="verdict">' in html
    assert "table.versus td.verdict { white-space:normal;" in html


def test_the_report_shows_the_rerun_beside_a_vgg_column(tmp_path):
    for seed in range(2):
        write_run(tmp_path / "runs", "vgg16_bn", "cifar100", "gem", seed=seed, best=74.0 + seed)
    html = write_report(tmp_path / "runs", tmp_path / "out")[0].read_text()
    assert "<h3>Published rerun</h3>" in html and "2 of 3 diverged, 67% [21%, 94%]" in html


def test_a_tie_is_not_gilded(tmp_path):
    for seed, acc in enumerate([9.06, 11.26]):
        for pool in ("max", "avgmax"):
            write_run(tmp_path / "runs", "resnet20", "synthetic", pool, seed=seed, best=acc)
    html = write_report(tmp_path / "runs", tmp_path / "out")[0].read_text()
    assert 'class="num best"' not in html and '<span class="tie" title="tied' in html
