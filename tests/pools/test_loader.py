"""Loading a user's pool file: an import that fails shows the user's file, line and error, none of
importlib's or poolbench's frames."""

from __future__ import annotations

import pytest

from poolbench.pools.loader import PoolFileError, load_pool_file

BROKEN = {
    "syntax": ("import torch\nclass CustomPool(torch.nn.Module)\n    pass\n", 2, "SyntaxError: expected ':'"),
    "raises": ('import torch\nx = 1\nraise RuntimeError("boom at import")\n', 3, "RuntimeError: boom at import"),
    "imports": ("import torch\nimport no_such_module_anywhere\n", 2, "ModuleNotFoundError: No module named"),
    "deep": ('def helper():\n    return {}["k"]\n\n\nhelper()\n', 2, "KeyError: 'k'"),
    "exits": ("import sys\nsys.exit(3)\n", 2, "SystemExit: 3"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_pool_file_that_fails_to_import_shows_its_own_line_and_error(tmp_path, kind):
    source, line, error = BROKEN[kind]
    path = tmp_path / f"{kind}_pool.py"
    path.write_text(source)
    with pytest.raises(PoolFileError) as info:
        load_pool_file(str(path))
    text = str(info.value)
    assert isinstance(info.value, ValueError)  # every command's usage-error path catches it: exit 2
    assert str(path) in text and f"line {line}" in text and error in text
    assert source.splitlines()[line - 1].strip() in text  # the offending line itself
    assert "importlib" not in text and "poolbench" not in text.replace(str(tmp_path), "")
    assert len(text.splitlines()) <= 8
    one = info.value.one_line
    assert "\n" not in one and error.split(":")[0] in one and f"{path.name}, line {line}" in one


def test_a_pool_file_without_the_class_names_the_classes_it_has(tmp_path):
    path = tmp_path / "other.py"
    path.write_text("import torch\nclass Other(torch.nn.Module):\n    pass\n")
    with pytest.raises(ValueError, match=r"has no class 'CustomPool'; nn.Module classes in it: Other"):
        load_pool_file(str(path))
