"""The leaderboard: numbers computed independently with numpy, marks, sections, formats."""

import csv
import io
import json

import numpy as np
import pytest
from scipy import stats as sps

from poolbench.results.table import load_leaderboard, render
from tests.results.fakeruns import STANDARD_BEST, write_benchmark, write_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return write_benchmark(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def lb(runs):
    return load_leaderboard(runs, "best")


def _std_section(lb):
    return next(s for s in lb.sections if s.standard)


def test_cells_are_mean_std_n_over_seeds(lb):
    sec = _std_section(lb)
    for (pool, col), values in STANDARD_BEST.items():
        c = sec.cells[(pool, col)]
        assert c.n == len(values)
        assert c.mean == pytest.approx(np.mean(values))
        if len(values) > 1:
            assert c.std == pytest.approx(np.std(values, ddof=1))
            assert c.text().startswith(f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}")
            assert f"(n={len(values)}" in c.text()


def test_one_seed_cell_is_marked_and_diverged_counted_apart(lb):
    c = _std_section(lb).cells[("max", "resnet56-cifar100")]
    assert c.n == 1 and c.values == [69.9]  # the diverged seed 1 is not averaged in
    assert c.text() == "69.90 (n=1; 1 diverged)† ⚠"  # marked: a run of the cell diverged


def test_unfinished_runs_are_counted_not_averaged(lb):
    c = _std_section(lb).cells[("avg", "resnet56-cifar100")]
    assert c.n == 3 and c.other == {"unfinished": 1}
    assert c.mean == pytest.approx(np.mean(STANDARD_BEST[("avg", "resnet56-cifar100")]))


def test_best_marked_and_beats_runner_up_only_when_significant(lb):
    sec = _std_section(lb)
    gem = sec.cells[("gem", "resnet56-cifar100")]
    assert gem.best and gem.beats_runner_up
    a, b = STANDARD_BEST[("gem", "resnet56-cifar100")], STANDARD_BEST[("avg", "resnet56-cifar100")]
    assert gem.p_vs_runner_up == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    assert gem.text().endswith("*▲ (n=3)")
    # avg 94.70 vs gem 94.65 on MobileNetV2: a 1x1 map, where avg is x and GeM max(x, eps) — the
    # same function, so no best is starred there and the column is marked instead
    fm = "mobilenetv2-fashion_mnist"
    assert not any(c.best for (p, col), c in sec.cells.items() if col == fm)
    assert fm in sec.same_function and "max(x, 1e-06)" in sec.same_function[fm] and "x" in sec.same_function[fm]
    assert "no best is marked" in sec.verdicts[fm]["reason"]
    assert f"{fm} ≡" in render(lb, "text") and "resnet56-cifar100 ≡" not in render(lb, "text")
    assert sum(c.best for c in sec.cells.values()) == len(sec.columns) - 1


def test_a_close_best_on_a_real_map_is_starred_without_the_significance_mark(tmp_path):
    for seed, (a, g) in enumerate([(94.6, 94.7), (94.8, 94.6)]):  # avg 94.70 vs gem 94.65: by a hair
        write_run(tmp_path, "resnet20", "fashion_mnist", "avg", seed=seed, best=a)
        write_run(tmp_path, "resnet20", "fashion_mnist", "gem", seed=seed, best=g)
    sec = _std_section(load_leaderboard(tmp_path))
    best = [c for c in sec.cells.values() if c.best]
    assert [c.pool for c in best] == ["avg"] and not best[0].beats_runner_up
    assert "▲" not in best[0].text() and "*" in best[0].text() and not sec.same_function


def test_a_1x1_column_with_a_non_plain_pool_is_not_called_the_same_function(tmp_path):
    for seed in range(2):
        write_run(tmp_path, "vgg16_bn", "cifar100", "avg", seed=seed, best=73.0 + seed)
        write_run(tmp_path, "vgg16_bn", "cifar100", "max", seed=seed, best=73.5 + seed)
    assert "vgg16_bn-cifar100" in _std_section(load_leaderboard(tmp_path)).same_function
    for seed in range(2):  # SAC heads see the 2x2 ... 16x16 maps: more than the pool differs
        write_run(
            tmp_path, "vgg16_bn", "cifar100", "avg", seed=seed, best=74.2, sac={"stages": [4], "weights": [0.3, 0.7]}
        )
    sec = _std_section(load_leaderboard(tmp_path))
    assert not sec.same_function  # the column is not one function any more ...
    best = [c for c in sec.cells.values() if c.best]
    assert [c.pool for c in best] == ["avg +sac(stages=[4],weights=[0.3,0.7])"]  # ... and SAC is not a twin
    assert sec.same_pools["vgg16_bn-cifar100"] == {"avg": "x", "max": "x"}


def test_non_standard_runs_never_mix_with_standard(lb):
    assert [s.protocol_label for s in lb.sections] == ["standard", "non-standard (epochs=6, train_subset=5000)"]
    ns = lb.sections[1]
    assert not ns.standard and ns.cells[("gem", "resnet56-cifar100")].values == [55.0, 56.0]
    assert not ns.cells[("gem", "resnet56-cifar100")].best  # alone in its column: no "best" claim
    assert _std_section(lb).cells[("gem", "resnet56-cifar100")].n == 3
    text = render(lb, "text")
    assert "Protocol: non-standard (epochs=6, train_subset=5000) — not comparable" in text


def test_text_and_md(lb):
    text = render(lb, "text")
    assert "72.40 ± 0.10 *▲ (n=3)" in text and "Published reference" in text and "71.06" in text
    md = render(lb, "md")
    assert "| gem | **72.40 ± 0.10**▲ (n=3) |" in md
    assert "| max | 69.90 (n=1; 1 diverged)† ⚠ |" in md
    assert "### Protocol: standard" in md and "cv-pooling-aggregation public leaderboard" in md
    # the published cells are distributions over their three seeds, not the seed-42 number alone
    assert "83.26 ± 19.09 (n=3: 94.27, 61.22, 94.29)" in text and "seeds 42, 123, 456" in text


def test_csv_and_json_agree_with_numpy(lb):
    rows = list(csv.DictReader(io.StringIO(render(lb, "csv"))))
    ours = {(r["pool"], r["column"]): r for r in rows if r["source"] == "runs" and r["protocol_label"] == "standard"}
    for key, values in STANDARD_BEST.items():
        assert float(ours[key]["mean"]) == pytest.approx(np.mean(values), abs=1e-4)
        assert int(ours[key]["n"]) == len(values)
    assert ours[("max", "resnet56-cifar100")]["n_diverged"] == "1"
    assert ours[("max", "resnet56-cifar100")]["one_seed"] == "True"
    assert sum(r["source"].startswith("published: ") for r in rows) == 9
    rerun = {r["pool"]: r for r in rows if r["source"].startswith("published rerun: ")}
    assert set(rerun) == {"avgmax", "gem", "max"} and rerun["gem"]["column"] == "vgg16_bn-cifar100"
    assert (rerun["gem"]["n"], rerun["gem"]["n_diverged"], rerun["gem"]["values"]) == ("1", "2", "74.58")
    doc = json.loads(render(lb, "json"))
    cells = {(c["pool"], c["column"], c["protocol_label"]): c for c in doc["cells"]}
    gem = cells[("gem", "resnet56-cifar100", "standard")]
    assert gem["best"] and gem["beats_runner_up"] and gem["seeds"] == [0, 1, 2]
    assert gem["std"] == pytest.approx(np.std([72.3, 72.5, 72.4], ddof=1), abs=1e-4)
    assert cells[("max", "resnet56-cifar100", "standard")]["std"] is None  # not NaN: valid JSON
    pub = {(c["pool"], c["column"]): c for c in doc["published"]["cells"]}
    gem_pub = pub[("gem", "resnet56-cifar100")]
    assert gem_pub["seeds"] == [42, 123, 456] and gem_pub["values"] == [72.39, 72.0, 72.49]
    assert gem_pub["mean"] == pytest.approx(np.mean([72.39, 72.0, 72.49]), abs=1e-4)
    assert gem_pub["std"] == pytest.approx(np.std([72.39, 72.0, 72.49], ddof=1), abs=1e-4)


def test_metrics_final_and_at_best_val(tmp_path):
    for seed, (best, final) in enumerate([(71.0, 70.0), (71.4, 70.6)]):
        write_run(tmp_path, seed=seed, best=best, final=final, val_split=5000, at_best_val=69.0 + seed)
    write_run(tmp_path, pool="gem", seed=0, best=72.0, final=71.0)  # no val split
    final = load_leaderboard(tmp_path, "final")
    cell = next(s for s in final.sections if not s.standard).cells[("avg", "resnet56-cifar100")]
    assert cell.mean == pytest.approx(70.3)
    at_val = load_leaderboard(tmp_path, "val")
    # only the val-split section has this metric; the standard one is left out
    assert [s.protocol_label for s in at_val.sections] == ["non-standard (val_split=5000)"]
    assert at_val.sections[0].cells[("avg", "resnet56-cifar100")].values == [69.0, 70.0]
    assert "best validation" in render(at_val, "text")


def test_unknown_metric_or_format(lb, runs):
    with pytest.raises(ValueError, match="choose one of"):
        load_leaderboard(runs, "worst")
    with pytest.raises(ValueError, match="text, md, csv, json"):
        render(lb, "xlsx")


def test_empty_runs_dir(tmp_path):
    assert "(no runs)" in render(load_leaderboard(tmp_path), "text")


def test_published_block_speaks_our_names(lb):
    from poolbench.results.published import published_for

    assert published_for("avgmax", "vgg16_bn-cifar100") == [72.55, 73.96, 72.52]  # avg_max / vgg16bn
    assert published_for("max", "mobilenetv2-fashion_mnist") == [94.27, 61.22, 94.29]
    assert published_for("avg", "resnet56-cifar100") is None
    rows = [r for r in csv.DictReader(io.StringIO(render(lb, "csv"))) if r["source"] != "runs"]
    got = {(r["pool"], r["column"]): (r["mean"], r["n"], r["values"]) for r in rows}
    assert got[("gem", "resnet56-cifar100")] == ("72.2933", "3", "72.39;72.0;72.49")
    assert got[("max", "mobilenetv2-fashion_mnist")][0] == "83.26"  # the published mean, collapse included
    text = render(lb, "text")
    assert "avg_max (ours: avgmax)" in text and "vgg16bn-cifar100 = our vgg16_bn-cifar100" in text


def test_an_exact_tie_stars_no_one_and_says_tie(tmp_path):
    for seed, acc in enumerate([9.06, 11.26]):  # bit-identical cells, as pools that train identically give
        for pool in ("max", "avgmax"):
            write_run(tmp_path, "resnet20", "synthetic", pool, seed=seed, best=acc)
    sec = _std_section(load_leaderboard(tmp_path))
    assert not any(c.best for c in sec.cells.values())
    assert all(c.tie for c in sec.cells.values())
    assert sec.verdicts["resnet20-synthetic"]["tie"] == ["avgmax", "max"]
    text = render(load_leaderboard(tmp_path), "text")
    assert "10.16 ± 1.56 tie (n=2)" in text and "*" not in text.split("Divergence")[0]


def test_the_same_function_rule_is_per_pool_and_counts_pool_files_by_their_record(tmp_path):
    """A pool file recorded (at run time) as the identity on 1x1 joins avg and max: no star."""
    marker = tmp_path / "imported"
    pool = tmp_path / "ident.py"  # importing it would leave a marker: the table must not
    pool.write_text(f"open({str(marker)!r}, 'w').close()\nclass CustomPool: pass\n")
    runs = tmp_path / "runs"
    for seed in range(2):
        write_run(runs, "vgg16_bn", "cifar100", "avg", seed=seed, best=73.0 + seed)
        write_run(runs, "vgg16_bn", "cifar100", "max", seed=seed, best=73.2 + seed)
        d = write_run(runs, "vgg16_bn", "cifar100", "file", seed=seed, best=73.6 + seed, pool_file=f"{pool}:CustomPool")
        cfg = json.loads((d / "config.json").read_text())
        cfg["pool_1x1"] = {"relation": "x", "same_as_identity": True}
        (d / "config.json").write_text(json.dumps(cfg))
    sec = _std_section(load_leaderboard(runs))
    col = "vgg16_bn-cifar100"
    assert col in sec.same_function and not any(c.best for c in sec.cells.values())
    assert all(c.same_function == "x" for c in sec.cells.values())
    assert not marker.exists()
    # a pool that is another function on 1x1 (recorded so) is compared, and may be starred
    for d in runs.glob("*file*"):
        cfg = json.loads((d / "config.json").read_text())
        cfg["pool_1x1"] = {"relation": "another function of x", "same_as_identity": False}
        (d / "config.json").write_text(json.dumps(cfg))
    sec = _std_section(load_leaderboard(runs))
    best = [c for c in sec.cells.values() if c.best]
    assert col not in sec.same_function and len(best) == 1 and best[0].pool.startswith("ident.py:CustomPool")
    assert sec.cells[("avg", col)].same_function == "x" and sec.cells[(best[0].pool, col)].same_function is None
    # ... but never an identity-like pool over its twin: with the file worst, avg/max are noise
    for d in runs.glob("*file*"):
        res = json.loads((d / "result.json").read_text())
        res["best_test_acc"] = 60.0
        (d / "result.json").write_text(json.dumps(res))
    sec = _std_section(load_leaderboard(runs))
    assert not any(c.best for c in sec.cells.values())
    assert "same function here as avg" in sec.verdicts[col]["reason"]
    assert not marker.exists()


def test_divergence_is_a_rate_with_its_wilson_interval(lb):
    text = render(lb, "text")
    assert "Divergence: finished and diverged runs per cell" in text and "Wilson score 95% interval" in text
    assert "1 of 2 diverged, 50% [9%, 91%] ⚠" in text  # max on resnet56: one finished, one diverged
    assert "0 of 3 diverged, 0% [0%, 56%]" in text  # gem: the unfinished run is neither
    rows = list(csv.DictReader(io.StringIO(render(lb, "csv"))))
    mx = next(r for r in rows if r["pool"] == "max" and r["source"] == "runs" and r["protocol_label"] == "standard")
    assert (mx["n_finished"], mx["n_diverged"], mx["divergence_rate"]) == ("1", "1", "0.5")
    lo, hi = sps.binomtest(1, 2).proportion_ci(method="wilson")
    assert float(mx["divergence_ci_low"]) == pytest.approx(lo, abs=1e-4)
    assert float(mx["divergence_ci_high"]) == pytest.approx(hi, abs=1e-4)
    assert "mean ± std over finished runs" in text and "(--metric best)" in text


def test_val_is_unavailable_without_a_validation_split(runs):
    text = render(load_leaderboard(runs, "val"), "text")
    assert "validation-selected accuracy is unavailable" in text and "--val-split" in text


def test_the_published_block_only_beside_a_published_column(tmp_path):
    write_run(tmp_path, "cnn4", "patterns", "avg")
    assert "Published reference" not in render(load_leaderboard(tmp_path), "text")
    write_run(tmp_path, "resnet56", "cifar100", "avg")
    assert "Published reference" in render(load_leaderboard(tmp_path), "text")


def test_the_rerun_block_beside_the_vgg_column_counts_its_collapses(tmp_path):
    write_run(tmp_path, "vgg16_bn", "cifar100", "gem", best=74.0)
    text = render(load_leaderboard(tmp_path), "text")
    assert "Published rerun (third-party copy" in text
    assert "74.58 (n=1: 74.58); 2 of 3 diverged, 67% [21%, 94%] ⚠ (seeds 1, 2 at chance)" in text
    assert "73.50 ± 1.25 (n=3: 72.08, 74.42, 73.99); 0 of 3 diverged" in text
    write_run(tmp_path / "r56", "resnet56", "cifar100", "gem", best=72.0)
    assert "Published rerun" not in render(load_leaderboard(tmp_path / "r56"), "text")  # not its column


def test_a_poolbench_column_is_labelled_as_poolbench_s_in_text_and_markdown(tmp_path):
    """The spatial suite's own models are poolbench's columns, never the benchmark's."""
    for seed in (0, 1):
        for pool in ("avg", "max"):
            write_run(tmp_path, "vgg16_bn_s2", "cifar100", pool, seed=seed, best=70.0 + seed + (pool == "max"))
            write_run(tmp_path, "vgg16_bn", "cifar100", pool, seed=seed, best=70.0 + seed + (pool == "max"))
    lb = load_leaderboard(tmp_path, "best")
    for fmt in ("text", "md"):
        out = render(lb, fmt)
        assert "vgg16_bn_s2-cifar100 [poolbench]" in out and "vgg16_bn-cifar100 [poolbench]" not in out
        assert "[poolbench] after a column name: poolbench's own column" in out
