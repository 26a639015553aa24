"""poolbench robustness: Table 2 / 3 layouts, JSON with CE / FR against a baseline, generated-set
cache, released-set folders, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from poolbench.cli import main
from poolbench.robustness import sets
from tests.cli.seed_runs import tiny_run


def fast(tmp_path):
    return [
        "--n",
        "6",
        "--severities",
        "1,5",
        "--corruptions",
        "gaussian_noise,fog,saturate",
        "--perturbations",
        "translate,shot_noise",
        "--cache",
        str(tmp_path / "cache"),
    ]


@pytest.mark.slow  # trains the two tiny runs (shared with the other analysis-command tests)
def test_robustness_against_a_baseline(tmp_path_factory, tmp_path, capsys, monkeypatch):
    run, base = tiny_run(tmp_path_factory, "flex"), tiny_run(tmp_path_factory, "avg")
    assert main(["robustness", str(run), "--baseline", str(base), *fast(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "Table 2 layout" in printed and "Table 3 layout" in printed
    assert "CE" in printed and "Flip Rate" in printed and "extras, not in mCE" in printed
    assert "mCE" in printed and "(2 of the 15 benchmark corruptions measured" in printed
    assert "mFR" in printed and "(2 of the 10 benchmark perturbations measured" in printed
    res = json.loads((run / "robustness.json").read_text())
    assert set(res["errors"]) == {"gaussian_noise", "fog", "saturate"} and set(res["errors"]["fog"]) == {"1", "5"}
    fp = res["perturbation"]["flip_probability"]
    assert set(fp) == {"translate", "shot_noise", "shot_noise_2", "shot_noise_3"}
    cmp = res["comparison"]
    assert cmp["corruption"]["mCE_over"] <= 2  # saturate is an extra: never in the mean
    b = json.loads((base / "robustness.json").read_text())
    assert b["settings"] == res["settings"] and "comparison" not in b
    ce = cmp["corruption"]["per_corruption"]["fog"]["ce"]
    den = sum(b["errors"]["fog"].values())
    assert (ce is None and den == 0) or abs(ce - 100 * sum(res["errors"]["fog"].values()) / den) < 1e-9
    shot = [fp[f] for f in ("shot_noise", "shot_noise_2", "shot_noise_3")]
    assert abs(cmp["flip"]["fp"]["shot_noise"] - sum(shot) / 3) < 1e-9
    # the generated sets are cached in the same layout as the released ones
    c_dirs = list((tmp_path / "cache").glob("c-*"))
    assert len(c_dirs) == 1
    x, y = sets.read_c(c_dirs[0], "fog")
    assert x.shape == (5, 6, 32, 32, 3) and len(y) == 6
    p_dirs = list((tmp_path / "cache").glob("p-*"))
    assert sets.read_p(p_dirs[0], "translate").shape == (6, 16, 32, 32, 3)
    # the measurements are reused while settings, weights and sets are the same ...
    import poolbench.cli._trained as trained

    def no_loading(*a, **k):
        raise ValueError("loaded again")

    monkeypatch.setattr(trained, "load_trained", no_loading)
    assert main(["robustness", str(run), "--baseline", str(base), *fast(tmp_path)]) == 0
    # ... and remade when the weights differ from those measured
    res["fingerprint"]["checkpoint_sha256"] = "0" * 64
    (run / "robustness.json").write_text(json.dumps(res))
    assert main(["robustness", str(run), "--baseline", str(base), *fast(tmp_path)]) == 2
    assert "loaded again" in capsys.readouterr().err


@pytest.mark.slow  # scores the whole 1,000-image synthetic test split twice
def test_robustness_reads_a_released_folder(tmp_path_factory, tmp_path, capsys):
    from poolbench.cli._trained import load_trained

    run = tiny_run(tmp_path_factory, "flex")
    _, data, _ = load_trained(run, "cpu", full_test=True)
    clean = data.test_x.permute(0, 2, 3, 1).numpy()
    # a released-layout folder whose "corruption" is the identity, the test images in reverse order:
    # every severity's error must then be the clean error
    released = tmp_path / "CIFAR-10-C"
    released.mkdir()
    np.save(released / "fog.npy", np.tile(clean[::-1], (5, 1, 1, 1)))
    np.save(released / "labels.npy", np.tile(data.test_y.numpy()[::-1], 5).astype(np.uint8))
    assert (
        main(
            [
                "robustness",
                str(run),
                "--cifar10c",
                str(released),
                "--corruptions",
                "fog",
                "--perturbations",
                "none",
                "--severities",
                "1,5",
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["n"] == len(clean) and res["settings"]["cifar_c"] == str(released)
    assert all(abs(e - res["clean"]) < 1e-9 for e in res["errors"]["fog"].values())
    assert "released set" in capsys.readouterr().out
    np.save(released / "labels.npy", np.zeros(5 * len(clean), np.uint8))  # labels of other images: refused
    assert (
        main(
            [
                "robustness",
                str(run),
                "--cifar10c",
                str(released),
                "--corruptions",
                "fog",
                "--perturbations",
                "none",
                "--severities",
                "1",
                "--out",
                str(tmp_path / "r2.json"),
            ]
        )
        == 2
    )
    assert "labels are not those" in capsys.readouterr().err


def test_robustness_rejects_bad_arguments(tmp_path_factory, tmp_path, capsys):
    run = tiny_run(tmp_path_factory, "flex")
    assert main(["robustness", str(run), "--corruptions", "sparkle"]) == 2
    assert "unknown corruption sparkle" in capsys.readouterr().err
    with pytest.raises(SystemExit) as severities:  # refused by the parser, before the run is loaded
        main(["robustness", str(run), "--severities", "0-2"])
    assert severities.value.code == 2
    with pytest.raises(SystemExit) as missing:
        main(["robustness", str(run), "--cifar10c", str(tmp_path / "nope")])
    assert missing.value.code == 2
    assert "nope' does not exist" in capsys.readouterr().err
    assert main(["robustness", str(run), "--cifar100c", str(tmp_path), "--corruptions", "fog"]) == 2
    assert "CIFAR-100" in capsys.readouterr().err


@pytest.mark.slow  # trains one tiny run with per-image inputs
def test_robustness_normalises_as_the_run_was_trained(tmp_path_factory, tmp_path, monkeypatch):
    """A run trained on per-image-normalised inputs (a Birodkar et al. SVHN preset's) is scored on
    per-image-normalised corrupted images, never on the dataset's per-channel statistics."""
    import dataclasses

    import torch

    from poolbench.cli._trained import load_trained
    from poolbench.data.augment import normalize, normalize_per_image
    from poolbench.robustness import evaluate
    from tests.cli.seed_runs import TINY

    run = tiny_run(tmp_path_factory, "avg", protocol=dataclasses.replace(TINY, input_norm="image"))
    _, data, _ = load_trained(run, "cpu", full_test=True)
    clean = data.test_x.permute(0, 2, 3, 1).numpy()
    released = tmp_path / "CIFAR-10-C"
    released.mkdir()
    np.save(released / "fog.npy", np.tile(clean, (5, 1, 1, 1)))  # the identity "corruption"
    np.save(released / "labels.npy", np.tile(data.test_y.numpy(), 5).astype(np.uint8))
    seen = []  # (uint8 images, the float inputs the model was given)
    real = evaluate.logits_of

    def spy(model, images, to_input, device, batch=500):
        x = torch.from_numpy(np.array(images[:8])).permute(0, 3, 1, 2)
        seen.append((x, to_input(x)))
        return real(model, images, to_input, device, batch)

    monkeypatch.setattr(evaluate, "logits_of", spy)
    assert (
        main(
            [
                "robustness",
                str(run),
                "--cifar10c",
                str(released),
                "--corruptions",
                "fog",
                "--perturbations",
                "none",
                "--severities",
                "1",
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    assert len(seen) == 2  # the clean images and severity 1
    for x, given in seen:
        assert torch.equal(given, normalize_per_image(x))
        assert not torch.allclose(given, normalize(x, data.mean, data.std))  # the two are told apart


def test_robustness_measurements_name_the_generator_version(tmp_path, monkeypatch):
    from poolbench.cli.robustness import _fingerprint

    settings = {"cifar_c": None, "cifar_p": None}
    now = _fingerprint(tmp_path, settings)
    assert now["generator_version"] == sets.GENERATOR_VERSION
    monkeypatch.setattr(sets, "GENERATOR_VERSION", sets.GENERATOR_VERSION - 1)
    assert _fingerprint(tmp_path, settings) != now  # a robustness.json of older sets is measured again
