"""docs/models.md's table is the zoo: one row per registered model, and every number in a row is
the built model's (parameters with a 10-class head, trunk and head, final map at 32x32, C, and each
stage's channels @ side).

The models are built on the meta device (shapes only), so the deep ResNets cost no arithmetic.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from poolbench.models import create_model, list_models

TABLE = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def documented_rows(text: str) -> dict[str, dict[str, str]]:
    """{model: {column: cell}} from the table whose header starts with '| model |'."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| model |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = dict(zip(header, cells, strict=True))
    return rows


def built(name: str) -> dict[str, str]:
    """The cells the table should have for ``name``, formatted as the table writes them."""
    with torch.device("meta"):
        model = create_model(name, num_classes=10, in_chans=3).eval()
        stages = model.forward_stages(torch.empty(2, 3, 32, 32))
    total = sum(p.numel() for p in model.parameters())
    head = sum(p.numel() for p in model.head.parameters())
    side = stages[-1].shape[-1]
    return {
        "parameters (trunk + head)": f"{total:,} ({total - head:,} + {head:,})",
        "final map": f"{stages[-1].shape[-2]}x{side}",
        "C": str(model.num_features),
        "stages (channels @ side)": ", ".join(f"{s.shape[1]}@{s.shape[-1]}" for s in stages),
    }


ROWS = documented_rows(TABLE.read_text())


def test_every_registered_model_has_a_row_and_no_row_is_stale():
    assert sorted(ROWS) == list_models()


@pytest.mark.parametrize("name", list_models())
def test_row_matches_the_built_model(name):
    row = ROWS[name]
    for column, value in built(name).items():
        assert row[column] == value, f"docs/models.md, {name}, {column!r}"


def test_the_spatial_variants_are_spatial():
    """What the spatial suite exists for: these maps are wider than 1x1 at the benchmark's 32x32."""
    assert ROWS["vgg16_bn_s2"]["final map"] == "2x2" and ROWS["vgg16_bn"]["final map"] == "1x1"
    assert ROWS["mobilenetv2_s4"]["final map"] == "4x4" and ROWS["mobilenetv2"]["final map"] == "1x1"
    assert re.match(r"8x8", ROWS["resnet56"]["final map"])
