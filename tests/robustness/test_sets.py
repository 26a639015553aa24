"""Released-set layouts (readers refuse other shapes and pickles), generated sets in the same layout,
bit-identical regeneration, the checksummed cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from poolbench.robustness import sets


def released_c(tmp_path, n=4):
    x = np.random.default_rng(0).integers(0, 256, (5 * n, 32, 32, 3), dtype=np.uint8)
    labels = np.tile(np.arange(n) % 10, 5).astype(np.uint8)
    np.save(tmp_path / "fog.npy", x)
    np.save(tmp_path / "labels.npy", labels)
    return x, labels


def test_read_c_layout(tmp_path):
    x, labels = released_c(tmp_path)
    imgs, y = sets.read_c(tmp_path, "fog")
    assert imgs.shape == (5, 4, 32, 32, 3) and np.array_equal(imgs[2], x[8:12])  # severity 3 = third block
    assert y.tolist() == [0, 1, 2, 3] and y.dtype == np.int64


def test_read_c_refuses_bad_files(tmp_path):
    released_c(tmp_path)
    np.save(tmp_path / "bad.npy", np.zeros((7, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\[5 N, 32, 32, 3\]"):
        sets.read_c(tmp_path, "bad")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a plain .npy"):
        sets.read_c(tmp_path, "obj")
    with pytest.raises(ValueError, match="missing"):
        sets.read_c(tmp_path, "snow")
    np.save(tmp_path / "labels.npy", np.arange(20).astype(np.uint8))  # blocks disagree
    with pytest.raises(ValueError, match="same labels"):
        sets.read_c(tmp_path, "fog")


def test_read_p_layout(tmp_path):
    np.save(tmp_path / "translate.npy", np.zeros((3, 16, 32, 32, 3), np.uint8))
    assert sets.read_p(tmp_path, "translate", sets.frames_of("translate")).shape == (3, 16, 32, 32, 3)
    with pytest.raises(ValueError, match="16 frames"):
        sets.read_p(tmp_path, "translate", 31)
    np.save(tmp_path / "rotate.npy", np.zeros((3, 31, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"\[N, T, 32, 32, 3\]"):
        sets.read_p(tmp_path, "rotate")
    assert sets.frames_of("motion_blur") == 21 and sets.frames_of("gaussian_noise_2") == 31


def test_generated_sets_regenerate_bit_for_bit(tmp_path, images):
    labels = np.array([3, 1, 4])
    names = ["gaussian_noise", "glass_blur", "fog"]
    a = sets.generate_c(images, labels, tmp_path / "a", names, seed=5)
    b = sets.generate_c(images, labels, tmp_path / "b", names, seed=5)
    for n in names + ["labels"]:
        assert (a / f"{n}.npy").read_bytes() == (b / f"{n}.npy").read_bytes(), n
    x, y = sets.read_c(a, "fog")  # the released layout
    assert x.shape == (5, 3, 32, 32, 3) and y.tolist() == [3, 1, 4]
    pa = sets.generate_p(images, tmp_path / "a", ["shot_noise", "translate"], seed=5)
    pb = sets.generate_p(images, tmp_path / "b", ["shot_noise", "translate"], seed=5)
    assert (pa / "shot_noise.npy").read_bytes() == (pb / "shot_noise.npy").read_bytes()
    assert sets.read_p(pa, "translate", 16).shape == (3, 16, 32, 32, 3)
    c = sets.generate_c(images, labels, tmp_path / "a", ["fog"], seed=6)
    assert c != a and not np.array_equal(sets.read_c(c, "fog")[0], x)


def test_cache_is_reused_verified_and_remade(tmp_path, images):
    labels = np.array([0, 1, 2])
    folder = sets.generate_c(images, labels, tmp_path, ["contrast"], seed=0)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) == {"labels.npy", "contrast.npy"} and manifest["meta"]["n"] == 3
    good = (folder / "contrast.npy").read_bytes()
    mtime = (folder / "contrast.npy").stat().st_mtime_ns
    sets.generate_c(images, labels, tmp_path, ["contrast"], seed=0)
    assert (folder / "contrast.npy").stat().st_mtime_ns == mtime  # reused, not remade
    raw = bytearray(good)
    raw[-1] ^= 0xFF
    (folder / "contrast.npy").write_bytes(bytes(raw))  # damaged: the checksum catches it
    sets.generate_c(images, labels, tmp_path, ["contrast"], seed=0)
    assert (folder / "contrast.npy").read_bytes() == good
    assert not list(folder.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_sets_of_another_generator_version_are_kept_apart(tmp_path, images, monkeypatch):
    labels = np.array([0, 1, 2])
    now = sets.generate_p(images[:1], tmp_path, ["spatter"], seed=0)
    key_c = sets.set_key("c", images, labels, 0)
    assert json.loads((now / "manifest.json").read_text())["meta"]["version"] == sets.GENERATOR_VERSION
    monkeypatch.setattr(sets, "GENERATOR_VERSION", sets.GENERATOR_VERSION - 1)
    assert sets.set_key("c", images, labels, 0) != key_c
    older = sets.generate_p(images[:1], tmp_path, ["spatter"], seed=0)
    assert older != now and (now / "spatter.npy").is_file()  # another folder: never read as today's


@pytest.mark.parametrize("manifest", ["[1, 2]", '{"meta": {}}', '{"files": []}', "not json"])
def test_a_manifest_poolbench_did_not_write_is_one_notice_and_the_set_is_made_again(tmp_path, manifest):
    told = []
    gen = sets.GeneratedSet(tmp_path, {"kind": "c"}, notice=told.append)
    (tmp_path / "manifest.json").write_text(manifest)
    path = gen.ensure("fog", lambda: np.zeros((5, 32, 32, 3), np.uint8))
    assert np.load(path).shape == (5, 32, 32, 3)
    assert len(told) == 1 and "manifest.json is not a manifest poolbench wrote" in told[0]
    assert list(json.loads((tmp_path / "manifest.json").read_text())["files"]) == ["fog.npy"]


def test_a_swapped_array_is_made_again_with_a_notice_never_silently(tmp_path, capsys):
    gen = sets.GeneratedSet(tmp_path, {"kind": "c"})
    path = gen.ensure("fog", lambda: np.zeros((5, 32, 32, 3), np.uint8))
    assert capsys.readouterr().err == ""
    np.save(path, np.full((5, 32, 32, 3), 7, np.uint8))  # swapped for another array
    again = gen.ensure("fog", lambda: np.zeros((5, 32, 32, 3), np.uint8))
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fog.npy does not match the sha256" in err
    assert np.load(again).max() == 0
