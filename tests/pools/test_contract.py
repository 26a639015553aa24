"""The contract for every registered pool, and proof that the checker fails broken pools."""

from pathlib import Path

import pytest
import torch
import torch.nn as nn

from poolbench.pools import GlobalPool, get_pool_class, list_pools
from poolbench.pools.check import check_pool
from poolbench.pools.lda import save_lda_weights
from poolbench.pools.loader import load_pool_file

REPO_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "name",  # gemgate's contract run takes 10 s on 2 cores: slow
    [pytest.param(n, marks=pytest.mark.slow) if n == "gemgate" else n for n in list_pools()],
)
def test_registered_pool_passes_the_contract(name):
    report = check_pool(name, compile=False, onnx=False)
    assert report.passed, report.format_table()
    fatal = [r for r in report.checks if r.fatal]
    declared = ["information"] if getattr(get_pool_class(name), "loses_information_on", {}) else []
    assert len(fatal) == 15 - len(declared)
    assert [r.name for r in report.checks if not r.fatal] == declared + ["lazy parameters"]
    assert report.one_by_one  # and what it computes on a 1x1 map, probed


def test_compile_and_onnx_rows_on_avg():
    report = check_pool("avg", channels=(64,))
    rows = {r.name: r for r in report.rows}
    assert not rows["torch.compile"].fatal and rows["torch.compile"].ok, rows["torch.compile"].detail
    assert not rows["onnx export"].fatal and rows["onnx export"].ok, rows["onnx export"].detail


def test_fitted_lda_passes_on_its_own_map_size(tmp_path):
    p = torch.softmax(torch.randn(64), dim=0)
    path = save_lda_weights(tmp_path / "p.pt", p, {"size": [8, 8]})
    report = check_pool("lda", maps=((8, 8),), pool_args={"weights": str(path)}, compile=False, onnx=False)
    assert report.passed, report.format_table()
    assert "64 saved values" in {r.name: r for r in report.rows}["state_dict"].detail


def test_broken_example_fails_naming_the_1x1_map():
    report = check_pool(load_pool_file(f"{REPO_EXAMPLES}/broken_std_pool.py:CustomPool"), compile=False, onnx=False)
    assert not report.passed
    random_row = {r.name: r for r in report.rows}["finite: random"]
    assert not random_row.ok and "NaN output on 1x1 map" in random_row.detail
    assert "2x2" not in random_row.detail  # only the 1x1 map breaks the unbiased std
    assert "FAIL" in report.format_table() and "NaN output on 1x1 map" in report.format_table()


class NaiveSoftPool(nn.Module):  # exp without subtracting the max
    def forward(self, x):
        e = x.exp()
        return (e * x).sum((2, 3)) / e.sum((2, 3))


class NaiveGeM(nn.Module):  # no clamp: x**p of a negative number
    def forward(self, x):
        return x.pow(3).mean((2, 3)).pow(1 / 3)


class Float64Pool(nn.Module):
    def forward(self, x):
        return x.double().mean((2, 3))


class WrongWidth(nn.Module):  # claims to widen but does not
    feat_mult = 2

    def forward(self, x):
        return x.mean((2, 3))


class WrongOutputWidth(GlobalPool):  # declares a width that is not a multiple of C, gives C
    def out_features(self, in_channels):
        return in_channels * (in_channels + 1) // 2

    def forward(self, x):
        return x.mean((2, 3))


class ChannelsLastBug(nn.Module):  # reads memory with contiguous strides: the top-left value, or not
    def forward(self, x):
        b, c, h, w = x.shape
        return torch.as_strided(x, (b, c), (c * h * w, h * w)).clone()


class MinShiftedPowerMean(nn.Module):
    """timm's SimPool2d value path with gamma (attention uniform at init): per sample and channel,
    subtract the minimum over positions, then a power mean. On a 1x1 map every output is 1e-6."""

    def forward(self, x):
        v = nn.functional.layer_norm(x.flatten(2).transpose(1, 2), (x.shape[1],))  # [B, N, C]
        shifted = v - v.amin(dim=1, keepdim=True) + 1e-6
        return shifted.pow(2).mean(1).pow(0.5)


class DeafToChannel0(nn.Module):
    def forward(self, x):
        y = x.mean((2, 3))
        return torch.cat([y[:, 1:2], y[:, 1:]], dim=1)


class ConstantFeature3(nn.Module):
    def forward(self, x):
        y = x.mean((2, 3))
        return torch.cat([y[:, :3], torch.zeros_like(y[:, :1]), y[:, 4:]], dim=1)


class NoisyEval(nn.Module):
    def forward(self, x):
        return x.mean((2, 3)) + 0.01 * torch.randn(x.shape[0], x.shape[1])


@pytest.mark.parametrize(
    "pool, row, reason",
    [
        (NaiveSoftPool, "finite: huge", "NaN output on 8x8, 4x4, 7x5, 2x2, 1x1 maps"),
        (NaiveGeM, "finite: negative", "NaN output on 8x8"),
        (Float64Pool, "shape C=64", "dtype torch.float64 for float32 input"),
        (WrongWidth, "shape C=512", "shape [2, 512] (expected [2, 1024])"),
        (WrongOutputWidth, "shape C=64", "shape [1, 64] (expected [1, 2080])"),
        (ChannelsLastBug, "channels_last", "channels_last input changes the output"),
        (NoisyEval, "train/eval", "eval mode is not deterministic"),
        (
            DeafToChannel0,
            "information",
            "output independent of input channel 0 (1 of 64) on 8x8, 4x4, 7x5, 2x2, 1x1 maps",
        ),
        (ConstantFeature3, "information", "output feature 3 (1 of 64) the same for 4 different inputs on 8x8"),
    ],
)
def test_checker_fails_broken_pools_with_the_reason(pool, row, reason):
    report = check_pool(pool, compile=False, onnx=False)
    rows = {r.name: r for r in report.rows}
    assert not report.passed and not rows[row].ok
    assert reason in rows[row].detail, rows[row].detail


def test_information_row_names_only_the_map_that_loses_it():
    report = check_pool(MinShiftedPowerMean, channels=(64,), compile=False, onnx=False)
    row = {r.name: r for r in report.rows}["information"]
    assert not report.passed and row.fatal and not row.ok and "\n" not in row.detail
    assert "the same output for 4 different inputs on 1x1 map" in row.detail
    assert "2x2" not in row.detail and "8x8" not in row.detail  # it keeps the information on larger maps


def test_a_declared_loss_is_a_stated_warning_not_a_failure():
    class DeclaredLoss(GlobalPool):
        loses_information_on = {"1x1": "the spread of one position is zero"}

        def forward(self, x):
            return x.std((2, 3), correction=0)

    report = check_pool(DeclaredLoss, compile=False, onnx=False)
    row = {r.name: r for r in report.rows}["information"]
    assert report.passed and not row.ok and not row.fatal
    assert "on 1x1 map (declared by the pool: 1x1: the spread of one position is zero)" in row.detail


def test_state_dict_row_catches_an_unsaved_parameter():
    class Unsaved(nn.Module):
        def __init__(self):
            super().__init__()
            self.log_scale = nn.Parameter(torch.zeros(1))
            self.register_buffer("shift", torch.zeros(1), persistent=False)  # state that is not saved

        def forward(self, x):
            return self.log_scale.exp() * x.mean((2, 3)) + self.shift

    row = {r.name: r for r in check_pool(Unsaved, compile=False, onnx=False).rows}["state_dict"]
    assert not row.ok and "output after load differs" in row.detail


def test_a_ready_module_and_a_factory_are_accepted():
    from poolbench.pools import create_pool

    assert check_pool(create_pool("gem"), channels=(64,), compile=False, onnx=False).passed
    assert check_pool(
        lambda channels: create_pool("gem_channel", channels=channels), channels=(64,), compile=False, onnx=False
    ).passed


def test_loader_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="path/to/file.py:ClassName"):
        load_pool_file("examples/broken_std_pool")
    assert load_pool_file(f"{REPO_EXAMPLES}/broken_std_pool.py").__name__ == "CustomPool"  # the convention
    with pytest.raises(ValueError, match="not found"):
        load_pool_file(f"{tmp_path}/nope.py:CustomPool")
    with pytest.raises(ValueError, match=r"no class 'Missing'.*CustomPool"):
        load_pool_file(f"{REPO_EXAMPLES}/broken_std_pool.py:Missing")


def test_unknown_name_is_a_usage_error():
    with pytest.raises(ValueError, match="unknown pool 'gemm'; valid names"):
        check_pool("gemm")
