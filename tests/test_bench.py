"""A smoke test of the throughput benchmark: one step of every path, files with provenance.

It asserts nothing about speed (a measurement is a benchmark with its output committed).
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from poolbench.bench import BenchConfig, format_table, merge_results, run_bench, write_results
from poolbench.cli import main


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_bench_runs_every_path_and_writes_provenance(tmp_path):
    bc = BenchConfig(
        models=["resnet20"], packs=(1, 2), steps=1, warmup=1, rounds=1, eval_images=8, batch_size=8, device="cpu"
    )
    result = run_bench(bc, log=lambda s: None)
    rows = {(r["path"], r["k"]): r for r in result["rows"]}
    assert set(rows) == {("baseline", 1), ("poolbench", 1), ("packed", 2)}
    for r in rows.values():
        assert r["steps_per_s"] > 0 and r["images_per_s"] > 0 and r["min_per_run"] > 0 and r["speedup"] > 0
    assert rows[("packed", 2)]["images_per_s"] == 2 * 8 * rows[("packed", 2)]["steps_per_s"]
    assert result["device"].startswith("cpu") and result["torch"] and result["commit"]
    result["command"] = "test"
    js, md = write_results(result, tmp_path)
    assert json.loads(js.read_text())["rows"] and "| resnet20 | packed | 2 |" in md.read_text()
    assert "commit" in md.read_text() and "resnet20" in format_table(result)


def test_bench_command(tmp_path, capsys):
    assert (
        main(
            [
                "bench",
                "--models",
                "resnet20",
                "--packs",
                "1",
                "--steps",
                "1",
                "--warmup",
                "1",
                "--rounds",
                "1",
                "--eval-images",
                "4",
                "--batch-size",
                "4",
                "--device",
                "cpu",
                "--no-baseline",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| resnet20 | poolbench | 1 |" in out and len(list(tmp_path.glob("*.json"))) == 1


@pytest.mark.slow  # times a DataLoader baseline: 3-4 s
def test_dataloader_baseline_and_a_spent_budget(tmp_path):
    """The seed harness's way is timed like the others; a spent budget times nothing and says so."""
    bc = BenchConfig(
        models=["resnet20"],
        packs=(1,),
        steps=1,
        warmup=1,
        rounds=1,
        eval_images=8,
        batch_size=8,
        device="cpu",
        baselines=("plain", "dataloader"),
    )
    rows = {r["path"]: r for r in run_bench(bc, log=lambda s: None)["rows"]}
    assert set(rows) == {"baseline", "dataloader", "poolbench"}
    assert rows["dataloader"]["steps_per_s"] > 0 and rows["dataloader"]["speedup"] > 0
    spent = run_bench(BenchConfig(models=["resnet20"], packs=(1,), device="cpu", budget_s=0), log=lambda s: None)
    assert all(r["step_ms"] is None and "budget" in r["note"] for r in spent["rows"])


def test_per_image_dataset_is_a_crop_of_the_padded_image_then_normalised():
    from poolbench.bench import PerImageDataset

    x = torch.randint(1, 256, (4, 3, 32, 32), dtype=torch.uint8)
    ds = PerImageDataset(x, torch.arange(4), (0.5,) * 3, (0.25,) * 3, train=True)
    img, label = ds[2]
    raw = (img * 0.25 + 0.5) * 255
    padded = F.pad(x[2], (4, 4, 4, 4)).float()
    crops = [padded[:, a : a + 32, b : b + 32] for a in range(9) for b in range(9)]
    assert label == 2 and any(
        torch.allclose(raw, c, atol=1e-3) or torch.allclose(raw, c.flip(-1), atol=1e-3) for c in crops
    )
    test = PerImageDataset(x, torch.arange(4), (0.5,) * 3, (0.25,) * 3, train=False)
    assert torch.allclose((test[1][0] * 0.25 + 0.5) * 255, x[1].float(), atol=1e-3)


def test_merged_parts_keep_every_command_and_row(tmp_path):
    parts = []
    for modes in (("eager",),):
        r = run_bench(
            BenchConfig(
                models=["resnet20"],
                packs=(1,),
                steps=1,
                warmup=1,
                rounds=1,
                eval_images=4,
                batch_size=4,
                device="cpu",
                modes=modes,
                baselines=(),
            ),
            log=lambda s: None,
        )
        r["command"] = f"part {len(parts)}"
        parts += [r, dict(r, command="part 1", rows=[dict(x, amp="bf16") for x in r["rows"]])]
    merged = merge_results(parts)
    assert [r["part"] for r in merged["rows"]] == [0, 1] and merged["parts"][1]["command"] == "part 1"
    js, md = write_results(merged, tmp_path)
    text = md.read_text()
    assert "`part 0`" in text and "`part 1`" in text and "bf16 (non-standard)" in text


def test_unknown_mode_is_one_clear_line(capsys):
    assert main(["bench", "--modes", "turbo", "--device", "cpu", "--no-write"]) == 2
    assert "unknown bench mode" in capsys.readouterr().err


def test_the_environment_records_threads_cores_and_load(monkeypatch):
    import os

    from poolbench.bench import environment

    monkeypatch.setattr(os, "getloadavg", lambda: (3.14159, 2.0, 1.0))
    env = environment(torch.device("cpu"))
    assert env["threads"] == torch.get_num_threads() and env["cpus"] == os.cpu_count()
    assert env["load_average"] == [3.14, 2.0, 1.0]
