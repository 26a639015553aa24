"""The pool contract, checked before anything is trained: ``check_pool(pool) -> CheckReport``.

A pool must map [B, C, H, W] -> [B, out_features(C)] (``base.pooled_width``) with the input's dtype for any B >= 1 and
H, W >= 1, give finite outputs *and* finite gradients on awkward inputs (all zeros, constant,
huge, tiny, all negative, random), survive bf16 autocast, channels_last and non-contiguous
inputs, train and eval mode, a state_dict round-trip, and keep the information (different inputs
give different outputs in every feature, every input channel moves the output: on every map size,
1x1 included, where a pool can return a constant without any NaN). The width checked is the one
the pool declares (``pooled_width``: ``out_features(C)``, ``feat_mult() * C`` by default), which the model head
sizes its classifier from. ``torch.compile`` and ONNX export are
reported but not fatal, and so is what the pool computes on a 1x1 map (``one_by_one``). One row
per check; a failing row says what failed and on which map, e.g. "NaN output on 1x1 map".

Each case builds a fresh pool (``build_pool(..., channels=C)``, or a deep copy of a given
module) because some pools size themselves on the first input they see. Shapes are checked at
every C; values at the smallest C with B = 2, which keeps one full check around a second on CPU.
"""

from __future__ import annotations

import copy
import functools
import io
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from . import build_pool, get_pool_class
from .base import pooled_width

MAPS: tuple[tuple[int, int], ...] = ((8, 8), (4, 4), (7, 5), (2, 2), (1, 1))


KINDS = ("zeros", "constant", "huge", "tiny", "negative", "random")


def _input(kind: str, shape, g: torch.Generator) -> torch.Tensor:
    """The awkward inputs: each breaks some naive pool (std, exp, x**p, a / sum a, ...)."""
    if kind == "zeros":
        return torch.zeros(shape)
    if kind == "constant":
        return torch.full(shape, 0.7)
    if kind == "random":
        return torch.randn(shape, generator=g)
    rand = torch.rand(shape, generator=g)
    # negative: a pre-ReLU map with nothing > 0
    scaled = {"huge": 1e4 * (0.5 + rand), "tiny": 1e-8 * rand, "negative": -(0.01 + rand)}
    return scaled[kind]


@dataclass
class CheckRow:
    name: str
    ok: bool
    fatal: bool = True
    detail: str = ""
    info: bool = False  # a fact about the pool, not a check (the 1x1 row)
    # the map sizes ("1x1", "8x8") a failing row failed on; empty when it failed on none or on no
    # particular map (a crash outside the cases)
    maps: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        if self.info:
            return "info"
        return "pass" if self.ok else ("FAIL" if self.fatal else "warn")


@dataclass
class CheckReport:
    target: str
    rows: list[CheckRow] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every fatal (contract) row passed; compile/ONNX rows do not count."""
        return all(r.ok or not r.fatal for r in self.rows)

    def failures(self, fatal_only: bool = False) -> list[CheckRow]:
        return [r for r in self.rows if not r.ok and (r.fatal or not fatal_only)]

    @property
    def checks(self) -> list[CheckRow]:
        """The rows that check something (not the informational 1x1 row)."""
        return [r for r in self.rows if not r.info]

    @property
    def one_by_one(self) -> str:
        """What the pool computes on a 1x1 map ('' if not probed)."""
        return next((r.detail for r in self.rows if r.info and r.name == "1x1 map"), "")

    def failing_maps(self) -> set[str] | None:
        """The map sizes the contract's failing rows failed on; None when one failed on no
        particular map (so a run on any map size would meet it)."""
        found: set[str] = set()
        for r in self.failures(fatal_only=True):
            if not r.maps:
                return None
            found.update(r.maps)
        return found

    def grouped(self, rows: list[CheckRow] | None = None) -> list[tuple[str, CheckRow]]:
        """(names, row) per row of ``rows`` (default: all), except that failing rows with the same
        cause (the same detail) are one entry naming every check that shares it."""
        shown: list[tuple[str, CheckRow]] = []
        for r in self.rows if rows is None else rows:
            twin = next(
                (
                    i
                    for i, (_, s) in enumerate(shown)
                    if not (r.ok or s.ok) and (s.detail, s.fatal) == (r.detail, r.fatal)
                ),
                None,
            )
            if twin is None:
                shown.append((r.name, r))
            else:
                shown[twin] = (_joined(shown[twin][0], r.name), shown[twin][1])
        return shown

    def format_table(self) -> str:
        """One row per check, but one row for the checks failing with one cause: it is read once."""
        shown = self.grouped()
        width = max([len(name) for name, _ in shown] + [5])
        lines = [f"{'check':<{width}}  result  detail", f"{'-' * width}  ------  ------"]
        for name, r in shown:
            detail = r.detail if r.fatal or r.ok else f"(not fatal) {r.detail}"
            lines.append(f"{name:<{width}}  {r.status:<6}  {detail}".rstrip())
        verdict = "passed" if self.passed else f"FAILED ({len(self.failures(fatal_only=True))} contract checks"
        if not self.passed:
            maps = self.failing_maps()
            only = f", all on {', '.join(sorted(maps))} map{'s' if len(maps) > 1 else ''} only" if maps else ""
            verdict += only + ")"
        lines.append(f"{self.target}: {verdict}")
        return "\n".join(lines)


def _joined(names: str, name: str) -> str:
    """'finite: zeros' + 'finite: huge' -> 'finite: zeros, huge' (a shared prefix is written once)."""
    head, sep, _ = names.partition(": ")
    if sep and name.startswith(head + ": "):
        return f"{names}, {name[len(head) + 2 :]}"
    return f"{names}; {name}"


class _Problems:
    """Collects 'what went wrong' -> [where], so a row reads 'NaN output on 2x2, 1x1 maps'."""

    def __init__(self) -> None:
        self.where: dict[str, list[str]] = {}

    def add(self, what: str, where: str) -> None:
        places = self.where.setdefault(what, [])
        if where not in places:
            places.append(where)

    def row(self, name: str, fatal: bool = True, note: str = "") -> CheckRow:
        parts = [f"{what} on {', '.join(w)} map{'s' if len(w) > 1 else ''}" for what, w in self.where.items()]
        maps = dict.fromkeys(where.split()[0] for places in self.where.values() for where in places)
        return CheckRow(name, not parts, fatal, "; ".join(parts) or note, maps=tuple(maps))


def _error(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return f"{type(e).__name__}: {msg[:150]}{'...' if len(msg) > 150 else ''}"


def _nonfinite(t: torch.Tensor) -> str | None:
    if torch.isnan(t).any():
        return "NaN"
    if torch.isinf(t).any():
        return "Inf"
    return None


def _hw(h: int, w: int) -> str:
    return f"{h}x{w}"


def _target_name(target: Any) -> str:
    if isinstance(target, str):
        return target
    if isinstance(target, nn.Module):
        return type(target).__name__
    return getattr(target, "__name__", repr(target))


def check_pool(
    target: Any,
    channels: Sequence[int] = (64, 512, 1280),
    maps: Sequence[tuple[int, int]] = MAPS,
    compile: bool = True,
    onnx: bool = True,
    verbose: bool = False,
    pool_args: dict[str, Any] | None = None,
) -> CheckReport:
    """Check a pool against the contract.

    ``target``: a registered name, a pool class, a factory ``lambda channels: module`` or a
    ready ``nn.Module`` (deep-copied per case; pass ``channels=(C,)`` if it was built for one C).
    ``pool_args`` go to the constructor. ``compile``/``onnx`` switch off the two non-fatal rows.
    The global RNG state is restored afterwards.
    """
    pool_args = dict(pool_args or {})
    if isinstance(target, str):
        get_pool_class(target)  # an unknown name is a usage error (listing the valid names), not 14 FAIL rows
    if isinstance(target, nn.Module):
        make: Callable[[int], nn.Module] = lambda c: copy.deepcopy(target)  # noqa: E731
    else:
        make = lambda c: build_pool(target, channels=c, **pool_args)  # noqa: E731
    report = CheckReport(_target_name(target))
    fitted = fitted_map_size(make(min(channels)))
    if fitted is not None:  # fitted LDA weights / a sized flex pool: other sizes are refused by design
        maps = [fitted]
        report.rows.append(
            CheckRow(
                "map sizes",
                True,
                False,
                f"the pool accepts {_hw(*fitted)} maps only (it was fitted or sized for them): checked on that size",
                info=True,
            )
        )
    steps: list[tuple[str, Callable[[], CheckRow]]] = []
    for c in channels:
        batches = (1, 128) if c == min(channels) else (2,)
        steps.append((f"shape C={c}", functools.partial(_check_shape, make, c, maps, batches)))
    c0 = min(channels)
    probe: tuple[int, int] = (
        (7, 5) if (7, 5) in maps else (int(maps[0][0]), int(maps[0][1]))
    )  # one map for the single-size rows; non-square if allowed
    for kind in KINDS:
        steps.append((f"finite: {kind}", functools.partial(_check_finite, make, c0, maps, kind)))
    steps += [
        ("bf16 autocast", lambda: _check_autocast(make, c0, maps)),
        ("channels_last", lambda: _check_layout(make, c0, maps, "channels_last")),
        ("non-contiguous", lambda: _check_layout(make, c0, maps, "non-contiguous")),
        ("train/eval", lambda: _check_modes(make, c0, maps)),
        ("state_dict", lambda: _check_state_dict(make, c0, probe)),
        ("information", lambda: _check_information(make, c0, maps)),
        ("lazy parameters", lambda: _check_lazy(make, c0, probe)),
    ]
    if (1, 1) in maps:
        steps.append(("1x1 map", lambda: _check_1x1(make)))
    if compile:
        steps.append(("torch.compile", lambda: _check_compile(make, c0, [probe] + [hw for hw in maps if hw == (1, 1)])))
    if onnx:
        steps.append(("onnx export", lambda: _check_onnx(make, c0, probe)))
    # Warnings raised by the pool under test (e.g. std's degrees of freedom) would only garble the table.
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        for name, step in steps:
            try:
                row = step()
            except Exception as e:  # a check that crashes outside a case is still a row
                row = CheckRow(name, False, not name.startswith(("torch.compile", "onnx", "1x1", "lazy")), _error(e))
            row.name = name
            report.rows.append(row)
            if verbose:
                print(f"{row.name:<16}  {row.status:<6}  {row.detail}", flush=True)
    return report


SCAFFOLD = "benchmark scaffold"


def check_scaffold(cls: Any) -> CheckRow:
    """Whether the benchmark's scaffold could build this pool class: it calls ``CustomPool()`` with no
    arguments (it does not know C). Not poolbench's contract (poolbench passes ``channels=C`` to a
    pool that takes it), so the row is not fatal; ``poolbench harness``, the benchmark's command
    line, refuses a pool that fails it."""
    name = getattr(cls, "__name__", "the pool")
    try:
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls()
    except Exception as e:
        return CheckRow(
            SCAFFOLD,
            False,
            fatal=False,
            detail=f"{name}() raises {_error(e)}: the benchmark's scaffold builds its pool with no arguments, "
            f"so this pool cannot run there; give every __init__ argument a default (create per-channel "
            f"parameters on the first input, as examples/custom_pool.py does)",
        )
    return CheckRow(SCAFFOLD, True, fatal=False, detail=f"{name}() builds with no arguments, as the scaffold does")


def _expected_width(module: nn.Module, c: int) -> int:
    return pooled_width(module, c)


def _check_shape(make, c: int, maps, batches: Iterable[int]) -> CheckRow:
    probs = _Problems()
    fix = ""
    for h, w in maps:
        for b in batches:
            where = f"{_hw(h, w)} B={b}"
            try:
                m = make(c).train()
                y = m(torch.randn(b, c, h, w))
                want = (b, _expected_width(m, c))
                if tuple(y.shape) != want:
                    probs.add(f"shape {list(y.shape)} (expected {list(want)})", where)
                    fix = fix or width_fix(m, c, y)
                elif y.dtype != torch.float32:
                    probs.add(f"dtype {y.dtype} for float32 input", where)
            except Exception as e:
                probs.add(_error(e), where)
    row = probs.row("shape")
    if fix:
        row.detail = f"{fix}. {row.detail}"
    return row


def width_fix(m: nn.Module, c: int, y: torch.Tensor) -> str:
    """The fix for an output wider than the pool says (``feat_mult()`` / ``out_features``, read by
    whoever sizes the classifier)."""
    declared = _expected_width(m, c)
    if y.dim() != 2 or y.shape[1] == declared:
        return ""
    name = type(m).__name__
    if y.shape[1] % c == 0:
        k = y.shape[1] // c
        return (
            f"the output is {k}*C wide but the pool declares {declared} features for C={c}: "
            f"define `def feat_mult(self): return {k}` on {name} so the classifier is sized {k}*C"
        )
    return (
        f"the output is {y.shape[1]} wide for C={c} but the pool declares {declared}: define "
        f"`def out_features(self, in_channels)` on {name} returning its width, so the classifier is sized by it"
    )


def _check_lazy(make, c: int, hw: tuple[int, int]) -> CheckRow:
    """Parameters created in the first forward are missed by an optimizer built before it."""
    m = make(c).train()
    before = {id(p) for p in m.parameters()}
    with torch.no_grad():
        m(torch.randn(2, c, *hw))
    new = [name for name, p in m.named_parameters() if id(p) not in before]
    if not new:
        return CheckRow("lazy parameters", True, False, "none: every parameter exists before the first forward")
    return CheckRow(
        "lazy parameters",
        False,
        False,
        f"{', '.join(new)} created in the first forward: an optimizer built before it would never "
        f"train them. poolbench runs a dry forward before building its optimizer; in your own loop "
        f"do the same (model(x[:2]) under torch.no_grad()), or create them in __init__ "
        f"(pre-allocate for the largest C and slice)",
    )


def fitted_map_size(m: nn.Module) -> tuple[int, int] | None:
    """The one map size a pool accepts (``input_size``: fitted LDA weights, a sized flex), or None."""
    size = getattr(m, "input_size", None)
    return (int(size[0]), int(size[1])) if size is not None else None


def _check_finite(make, c: int, maps, kind: str) -> CheckRow:
    """Finite outputs (train and eval) and finite gradients w.r.t. input and parameters."""
    probs = _Problems()
    g = torch.Generator().manual_seed(1)
    for h, w in maps:
        where = _hw(h, w)
        x = _input(kind, (2, c, h, w), g).requires_grad_(True)
        try:
            m = make(c).train()
            y = m(x)
            bad = _nonfinite(y)
            if bad:
                probs.add(f"{bad} output", where)
            if not y.requires_grad:
                probs.add("output has no gradient w.r.t. input or parameters", where)
                continue
            y.float().sum().backward()
            if x.grad is not None and _nonfinite(x.grad):
                probs.add(f"{_nonfinite(x.grad)} input gradient", where)
            for name, p in m.named_parameters():
                if p.grad is not None and _nonfinite(p.grad):
                    probs.add(f"{_nonfinite(p.grad)} gradient of {name}", where)
            with torch.no_grad():
                bad = _nonfinite(m.eval()(x))
            if bad:
                probs.add(f"{bad} output in eval mode", where)
        except Exception as e:
            probs.add(_error(e), where)
    return probs.row(kind)


def _check_autocast(make, c: int, maps) -> CheckRow:
    """bf16 feature maps under CPU autocast: finite, a float dtype, close to the fp32 result."""
    probs = _Problems()
    g = torch.Generator().manual_seed(2)
    for h, w in maps:
        where = _hw(h, w)
        for kind in ("random", "huge"):
            x = _input(kind, (2, c, h, w), g).bfloat16()
            try:
                m = make(c).eval()
                with torch.no_grad():
                    ref = m(x.float())
                xg = x.clone().requires_grad_(True)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    y = m(xg)
                if y.dtype not in (torch.float32, torch.bfloat16):
                    probs.add(f"dtype {y.dtype} under autocast", where)
                bad = _nonfinite(y)
                if bad:
                    probs.add(f"{bad} output ({kind} input)", where)
                    continue
                # bf16 keeps ~3 significant digits; a pool that is still right agrees to a few %
                rel = ((y.float() - ref).abs().amax() / ref.abs().amax().clamp(min=1e-6)).item()
                if rel > 3e-2:
                    probs.add(f"differs from fp32 by {rel:.1%} of the output's max ({kind} input)", where)
                if y.requires_grad:
                    y.float().sum().backward()
                    if xg.grad is not None and _nonfinite(xg.grad):
                        probs.add(f"{_nonfinite(xg.grad)} input gradient ({kind} input)", where)
            except Exception as e:
                probs.add(_error(e), where)
    return probs.row("bf16 autocast")


def _check_layout(make, c: int, maps, layout: str) -> CheckRow:
    """Same result (eval) for a channels_last or a strided view as for a contiguous copy."""
    probs = _Problems()
    g = torch.Generator().manual_seed(3)
    for h, w in maps:
        where = _hw(h, w)
        if layout == "channels_last":
            views = [torch.randn(2, c, h, w, generator=g).to(memory_format=torch.channels_last)]
        else:  # every other channel of a wider map, and a transposed map
            views = [
                torch.randn(2, 2 * c, h, w, generator=g)[:, ::2],
                torch.randn(2, c, w, h, generator=g).transpose(2, 3),
            ]
        try:
            m = make(c).eval()
            with torch.no_grad():
                for x in views:
                    y, ref = m(x), m(x.contiguous())
                    if not torch.allclose(y, ref, rtol=1e-4, atol=1e-5, equal_nan=True):
                        probs.add(f"{layout} input changes the output by {(y - ref).abs().max().item():.2e}", where)
        except Exception as e:
            probs.add(_error(e), where)
    return probs.row(layout)


def _check_information(make, c: int, maps) -> CheckRow:
    """Silent information loss, which no NaN check sees: on every map size, different inputs give
    different outputs in every output feature, and every input channel moves the output (eval
    mode, non-negative inputs as after a ReLU). A pool that subtracts a per-sample minimum over the
    positions returns a constant on a 1x1 map; this row names that map. Map sizes the pool declares
    in ``loses_information_on`` (with why) make the row a stated, non-fatal warning instead."""
    probs = _Problems()
    declared: dict[str, str] = {}
    g = torch.Generator().manual_seed(6)
    for h, w in maps:
        where = _hw(h, w)
        x = 0.1 + torch.rand(4, c, h, w, generator=g)
        # one input per channel k: x[0] with channel k raised at every position
        bumped = x[:1].repeat(c, 1, 1, 1)
        bumped[torch.arange(c), torch.arange(c)] += 0.5 + torch.rand(c, h, w, generator=g)
        try:
            m = make(c).eval()
            with torch.no_grad():
                y = m(x).float().flatten(1)
                y0, yk = m(x[:1]).float().flatten(1), m(bumped).float().flatten(1)
            tol = 1e-5 * (1 + float(y.abs().max()))
            still = ((y.amax(0) - y.amin(0)) <= tol).nonzero().flatten().tolist()
            if len(still) == y.shape[1]:
                probs.add("the same output for 4 different inputs", where)
            elif still:
                probs.add(
                    f"output feature {still[0]} ({len(still)} of {y.shape[1]}) the same for 4 different inputs", where
                )
            deaf = ((yk - y0).abs().amax(1) <= tol).nonzero().flatten().tolist()
            if deaf:
                probs.add(f"output independent of input channel {deaf[0]} ({len(deaf)} of {c})", where)
            reason = getattr(m, "loses_information_on", {}).get(where)
            if reason and where in {w for places in probs.where.values() for w in places}:
                declared[where] = reason
        except Exception as e:
            probs.add(_error(e), where)
    row = probs.row("information")
    undeclared = {w for places in probs.where.values() for w in places} - set(declared)
    if declared and not undeclared:
        stated = "; ".join(f"{w}: {why}" for w, why in declared.items())
        row = CheckRow("information", False, False, f"{row.detail} (declared by the pool: {stated})")
    return row


def _check_modes(make, c: int, maps) -> CheckRow:
    """Both modes run at B = 1 and 2 with the right shape and finite values; eval is deterministic."""
    probs = _Problems()
    g = torch.Generator().manual_seed(4)
    for h, w in maps:
        where = _hw(h, w)
        try:
            m = make(c)
            for b in (1, 2):
                x = torch.randn(b, c, h, w, generator=g)
                with torch.no_grad():
                    for mode in ("train", "eval"):
                        y = m.train(mode == "train")(x)
                        if tuple(y.shape) != (b, _expected_width(m, c)):
                            probs.add(f"{mode} mode: shape {list(y.shape)} at B={b}", where)
                        if _nonfinite(y):
                            probs.add(f"{_nonfinite(y)} output in {mode} mode", where)
                    if not torch.allclose(m(x), m(x), rtol=0, atol=0, equal_nan=True):
                        probs.add("eval mode is not deterministic", where)
        except Exception as e:
            probs.add(_error(e), where)
    return probs.row("train/eval")


def _check_1x1(make) -> CheckRow:
    """Not a contract: what the pool computes on a 1x1 map (``one_by_one.probe_1x1``), reported."""
    from .one_by_one import probe_1x1

    try:
        detail = probe_1x1(make).text()
    except Exception as e:  # a pool that cannot run on 1x1 maps already fails the shape row
        detail = f"not probed: {_error(e)}"
    return CheckRow("1x1 map", True, fatal=False, detail=detail, info=True)


def _check_state_dict(make, c: int, hw: tuple[int, int]) -> CheckRow:
    """Perturb every float parameter and buffer, save, load into a fresh pool: identical output."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, c, *hw, generator=g)
    a = make(c).eval()
    with torch.no_grad():
        a(x)  # size any lazily built weights
        for t in list(a.parameters()) + list(a.buffers()):
            if t.is_floating_point():
                t.add_(0.05 * torch.randn(t.shape, generator=g))
        ref = a(x)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = make(c).eval()
    with torch.no_grad():
        b(x)  # a lazily built pool has its parameters only after a forward
    b.load_state_dict(torch.load(buf, weights_only=True))
    with torch.no_grad():
        y = b(x)
    if not torch.allclose(y, ref, rtol=0, atol=0, equal_nan=True):
        diff = (y - ref).abs().max().item()
        return CheckRow("state_dict", False, detail=f"output after load differs by {diff:.2e} on {_hw(*hw)} map")
    n = sum(t.numel() for t in a.state_dict().values())
    return CheckRow("state_dict", True, detail=f"{n} saved values" if n else "no state")


def _check_compile(make, c: int, maps) -> CheckRow:
    """torch.compile with the aot_eager backend: traces forward and backward, skips codegen (fast)."""
    import torch._dynamo

    torch._dynamo.reset()
    m = make(c).eval()
    probs = _Problems()
    for h, w in maps:
        x = torch.randn(2, c, h, w)
        with torch.no_grad():
            ref = m(x)
        compiled = torch.compile(m, backend="aot_eager")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                y = compiled(x)
                if not torch.allclose(y, ref, rtol=1e-4, atol=1e-5, equal_nan=True):
                    probs.add("compiled output differs", _hw(h, w))
            except Exception as e:
                probs.add(_error(e), _hw(h, w))
        m = make(c).eval()  # a fresh pool per size (some pools size themselves)
    torch._dynamo.reset()
    return probs.row("torch.compile", fatal=False, note="backend aot_eager")


def _check_onnx(make, c: int, hw: tuple[int, int]) -> CheckRow:
    """ONNX export (TorchScript exporter, dynamo=False: quick) to a temporary file, validated by onnx.checker."""
    m = make(c).eval()
    x = torch.randn(2, c, *hw)
    with torch.no_grad():
        m(x)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "pool.onnx"  # export's f is a path (str | PathLike) in its signature
        try:
            torch.onnx.export(m, (x,), path, dynamo=False)
        except Exception as e:
            return CheckRow("onnx export", False, False, _error(e))
        exported = path.read_bytes()
    try:
        import onnx as onnx_lib
    except ImportError:
        return CheckRow("onnx export", True, False, f"{len(exported)} bytes (onnx not installed: not validated)")
    try:
        onnx_lib.checker.check_model(onnx_lib.load_from_string(exported))
    except Exception as e:
        return CheckRow("onnx export", False, False, "onnx.checker: " + _error(e))
    return CheckRow("onnx export", True, False, f"{len(exported)} bytes, onnx.checker ok")
