"""One lent GPU session in one go: environment, CUDA correctness, throughput, then standard runs.

Here, on the CPU machine, once before the device call (copies Fashion-MNIST's four gz files,
checked against ../shared/data/SHA256SUMS, and the commit into the git-ignored ``devdata/``)::

    python benchmarks/gpu_run.py --prepare

On the GPU machine (the exact ``run`` tool call is in benchmarks/README.md)::

    bash benchmarks/gpu_run.sh --budget-s 420 --out $OUT

The CPU dry run that keeps this script from rotting (tests/test_gpu_run.py)::

    bash benchmarks/gpu_run.sh --device cpu --tiny --budget-s 150 --out /tmp/gpu-dry-run --data-dir DIR

Phases, in order, each a child process with its own share of the budget (a phase that fails or runs
out of time is recorded and the next one runs):

1. ``env``: GPU name, driver, torch / CUDA / cuDNN versions, TF32 switches, ``nvidia-smi``;
2. ``tests``: ``pytest -m cuda`` (tests/train, tests/pools, tests/models: packed == separate,
   resume after SIGKILL, every pool in channels_last + bf16, torch.compile of each benchmark model);
3. ``bench``: ``poolbench bench --device cuda`` in three parts -- fp32 eager with both baselines
   (plain loop, the seed harness's DataLoader) and K in {1, 4, 8, 16}; fp32 compile and CUDA graphs
   at K in {1, 8}; bf16 (non-standard) eager and CUDA graphs at K in {1, 8} -- merged into one
   JSON + Markdown with device, commit, date and every command;
4. ``runs``: standard-protocol MobileNetV2 on Fashion-MNIST (avg, gem, max, avgmax, then gemgate;
   seeds 42, 123, 456), packed as the measured step times allow. A pack starts only if its
   projected time (200 epochs x (469 steps x measured step + 10000 test images x measured eval
   time), plus warm-up, x 1.25 for checkpoints and logging) fits in what is left; otherwise the plan
   and its projection are written and nothing is started.

Everything lands in ``--out`` as at most six files, no folders: ``summary.md`` (also printed last),
``env.json``, the bench's ``<date>-<device>-<commit>.json`` / ``.md``, ``runs.tar.gz`` (finished run
directories: config, metrics, result, pack; no checkpoints) and ``logs.tar.gz`` (every phase's log,
the pytest junit XML, nvidia-smi).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_FMNIST = REPO.parent / "shared" / "data" / "fashion-mnist"
DEVDATA = REPO / "devdata"  # git-ignored; travels to the GPU machine as a carried path
FMNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
POOLS = ("avg", "gem", "max", "avgmax", "gemgate")  # gemgate last: the "if it fits"
SEEDS = (42, 123, 456)  # the published baselines' seeds
FMNIST_TRAIN, FMNIST_TEST = 60000, 10000
OVERHEAD = 1.25  # checkpoints, metrics and logging per epoch on top of the timed step + eval work
PHASES = ("env", "tests", "bench", "runs")


# ----------------------------------------------------------------------------- settings
@dataclasses.dataclass
class Plan:
    """What each phase runs: the GPU settings, or tiny ones for the CPU dry run."""

    device: str
    tiny: bool
    bench_models: str = "mobilenetv2,resnet56,vgg16_bn"  # mobilenetv2 first: the runs are projected from it
    bench_common: tuple = ("--steps", "20", "--warmup", "5", "--rounds", "3", "--eval-images", "2000")
    runs_model: str = "mobilenetv2"
    runs_dataset: str = "fashion_mnist"
    protocol: tuple = ()  # poolbench protocol overrides (none: the standard protocol)
    train_images: int = FMNIST_TRAIN
    test_images: int = FMNIST_TEST
    epochs: int = 200
    pools: tuple = POOLS
    seeds: tuple = SEEDS
    shares: tuple = (0.25, 0.45)  # tests, bench (of the budget left after env); runs get the rest

    def bench_parts(self) -> list[tuple]:
        """[(share of the bench time, share of that the bench may start paths in, extra args)]. Every
        part times the plain baseline too, so each row's speed-up is a same-round ratio. A compiled
        path's warm-up (compilation) takes tens of seconds, so compiled parts stop starting paths
        earlier, leaving the last one time to finish."""
        if self.tiny:
            eager = ("--packs", "1,2", "--modes", "eager", "--baselines", "plain,dataloader")
            bf16 = ("--packs", "2", "--amp", "bf16", "--modes", "eager", "--baselines", "plain")
            return [(0.5, 0.75, eager), (0.5, 0.75, bf16)]
        return [
            (0.30, 0.75, ("--packs", "1,4,8,16", "--modes", "eager", "--baselines", "plain,dataloader")),
            (0.45, 0.5, ("--packs", "1,8", "--modes", "cudagraphs,compile", "--baselines", "plain")),
            (0.25, 0.5, ("--packs", "1,8", "--amp", "bf16", "--modes", "eager,cudagraphs", "--baselines", "plain")),
        ]


def make_plan(device: str, tiny: bool) -> Plan:
    if not tiny:
        return Plan(device=device, tiny=False)
    return Plan(
        device=device,
        tiny=True,
        bench_models="mobilenetv2",
        bench_common=("--steps", "1", "--warmup", "1", "--rounds", "1", "--eval-images", "16", "--batch-size", "8"),
        protocol=(("epochs", 1), ("train_subset", 256), ("test_subset", 128)),
        train_images=256,
        test_images=128,
        epochs=1,
        pools=("avg", "max"),
        seeds=(42,),
        shares=(0.2, 0.4),
    )


# ----------------------------------------------------------------------------- helpers
class Clock:
    def __init__(self, budget_s: float):
        self.start, self.budget = time.monotonic(), budget_s

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.start)


def child_env(work: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", POOLBENCH_CACHE=str(work / "cache"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
    commit = DEVDATA / "COMMIT"
    if "POOLBENCH_COMMIT" not in env and commit.is_file():
        env["POOLBENCH_COMMIT"] = commit.read_text().strip()
    return env


def run_phase(name: str, cmd: list[str], timeout_s: float, work: Path, log: Path) -> dict[str, Any]:
    """Run ``cmd`` with a time limit, its output to ``log``; {phase, status, rc, wall_s}."""
    t0 = time.monotonic()
    if timeout_s < 5:
        return {"phase": name, "status": "skipped", "note": "no time left", "wall_s": 0.0}
    print(f"[gpu_run] {name}: {' '.join(cmd)} (limit {timeout_s:.0f}s)", flush=True)
    with open(log, "w") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, env=child_env(work), start_new_session=True
        )
        try:
            rc = proc.wait(timeout=timeout_s)
            status = "ok" if rc == 0 else "failed"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the child and anything it started (DataLoader workers, compilers)
            proc.wait()
            rc, status = None, "timeout"
    out = {"phase": name, "status": status, "rc": rc, "wall_s": round(time.monotonic() - t0, 1)}
    print(f"[gpu_run] {name}: {status} after {out['wall_s']}s", flush=True)
    return out


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# ----------------------------------------------------------------------------- phase 1: environment
def environment(device: str) -> dict[str, Any]:
    import platform

    import torch

    env: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "host": platform.node(),
        "cuda_available": torch.cuda.is_available(),
        "cuda": torch.version.cuda,
        "commit": _git_head(),
    }
    if env["commit"] == "unknown":  # the tree travelled without .git: the commit --prepare recorded
        env["commit"] = child_env(Path("/tmp")).get("POOLBENCH_COMMIT", "unknown") + " (from devdata/COMMIT)"
    if device.startswith("cuda") and torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env.update(
            gpu=p.name,
            capability=f"{p.major}.{p.minor}",
            memory_gib=round(p.total_memory / 2**30, 1),
            multiprocessors=p.multi_processor_count,
            cudnn=torch.backends.cudnn.version(),
            tf32_conv_default=torch.backends.cudnn.allow_tf32,
            tf32_matmul_default=torch.backends.cuda.matmul.allow_tf32,
        )
    smi = shutil.which("nvidia-smi")
    if smi:
        q = subprocess.run(
            [smi, "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        env["nvidia_smi_query"] = q.stdout.strip() or q.stderr.strip()
        env["nvidia_smi"] = subprocess.run([smi], capture_output=True, text=True, timeout=30).stdout
    return env


def _git_head() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except Exception:
        return "unknown"


# ----------------------------------------------------------------------------- phase 3: bench
def bench(plan: Plan, seconds: float, work: Path, logs: Path, py: str) -> tuple:
    """The bench parts, each a ``poolbench bench`` child; (phase records, merged result or None)."""
    sys.path.insert(0, str(REPO / "src"))
    from poolbench.bench import merge_results

    records, parts = [], []
    for i, (share, start_share, extra) in enumerate(plan.bench_parts()):
        out = work / f"bench-part{i}"
        limit = share * seconds
        cmd = [
            py,
            "-m",
            "poolbench",
            "bench",
            "--device",
            plan.device,
            "--models",
            plan.bench_models,
            *plan.bench_common,
            *extra,
            "--budget-s",
            f"{start_share * limit:.0f}",
            "--out",
            str(out),
        ]
        records.append(run_phase(f"bench part {i}", cmd, limit, work, logs / f"bench-part{i}.log"))
        parts += [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    return records, (merge_results(parts) if parts else None)


def target_lines(result: dict[str, Any]) -> list[str]:
    """The issue's targets, recorded (never asserted): ResNet-56 <= 3 ms/step and MobileNetV2 <= 2 ms
    single-model fp32 (best mode), packed K=8 >= 4x the runs per GPU-hour of K=1 (same mode)."""
    rows = [r for r in result["rows"] if r.get("amp") == "none" and r["step_ms"] is not None]
    out = []
    for model, target in (("resnet56", 3.0), ("mobilenetv2", 2.0)):
        single = [r for r in rows if r["model"] == model and r["k"] == 1 and r["path"] == "poolbench"]
        if single:
            best = min(single, key=lambda r: r["step_ms"])
            out.append(
                f"- {model} single fp32, best mode ({best['mode']}): {best['step_ms']:.2f} ms/step "
                f"(target <= {target} ms: {'met' if best['step_ms'] <= target else 'not met'})"
            )
        else:
            out.append(f"- {model} single fp32: not measured")
    for r8 in (r for r in rows if r["k"] == 8):
        r1 = next(
            (
                r
                for r in rows
                if r["model"] == r8["model"] and r["mode"] == r8["mode"] and r["k"] == 1 and r["path"] == "poolbench"
            ),
            None,
        )
        if r1:
            ratio = r8["runs_per_hour"] / r1["runs_per_hour"]
            out.append(
                f"- {r8['model']} {r8['mode']}: packed K=8 gives {ratio:.2f}x the runs per GPU-hour of K=1 "
                f"(target >= 4x: {'met' if ratio >= 4 else 'not met'})"
            )
    return out


# ----------------------------------------------------------------------------- phase 4: runs
def run_list(plan: Plan) -> list[dict[str, Any]]:
    return [{"pool": p, "seed": s} for p in plan.pools for s in plan.seeds]


def projections(plan: Plan, result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Projected wall seconds of one pack of K runs of the runs model, per measured (mode, K), fp32."""
    if result is None:
        return []
    steps = math.ceil(plan.train_images / 128)  # the protocol's batch; the last partial batch is kept
    configs = [p.get("config") or {} for p in result.get("parts", [result])]
    out = []
    for r in result["rows"]:
        if (
            r["model"] != plan.runs_model
            or r.get("amp") != "none"
            or r["step_ms"] is None
            or r["path"] not in ("poolbench", "packed")
        ):
            continue
        # A bench of smaller batches (the dry run's) is scaled up to the protocol's 128 images a step.
        batch = configs[min(r.get("part", 0), len(configs) - 1)].get("batch_size", 128)
        step_s = r["step_ms"] / 1000 * (128 / batch)
        epoch_s = steps * step_s + plan.test_images * r["eval_ms_per_1k"] / 1e6
        total = OVERHEAD * plan.epochs * epoch_s + 2 * (r.get("warmup_s") or 0.0)
        out.append({"mode": r["mode"], "k": r["k"], "epoch_s": round(epoch_s, 3), "pack_s": round(total, 1)})
    return out


def choose(plan: Plan, proj: list[dict[str, Any]], seconds: float) -> dict[str, Any] | None:
    """The (mode, K) that finishes the most runs in ``seconds`` (then the least time); None if none fits."""
    n = len(run_list(plan))
    best = None
    for p in proj:
        packs = int(seconds // p["pack_s"]) if p["pack_s"] > 0 else 0
        done = min(n, packs * p["k"])
        if done == 0:
            continue
        cost = math.ceil(done / p["k"]) * p["pack_s"]
        if best is None or (done, -cost) > (best["runs"], -best["cost_s"]):
            best = dict(p, runs=done, cost_s=round(cost, 1))
    return best


def train_spec(spec_path: str) -> int:
    """The runs phase's child: train the spec's runs in packs (``train_packed``, as a sweep does)."""
    sys.path.insert(0, str(REPO / "src"))
    from poolbench.train import Protocol, RunConfig
    from poolbench.train.engine import train_run
    from poolbench.train.packed import train_packed
    from poolbench.train.resolve import resolve

    spec = json.loads(Path(spec_path).read_text())
    configs = [
        resolve(
            RunConfig(
                model=spec["model"],
                dataset=spec["dataset"],
                pool=r["pool"],
                seed=r["seed"],
                protocol=Protocol(**spec["protocol"]),
                data_dir=spec["data_dir"],
                channels_last=True,
                compile=spec["mode"] != "eager",
                compile_mode={"eager": None, "compile": None, "cudagraphs": "reduce-overhead"}[spec["mode"]],
            )
        )
        for r in spec["runs"]
    ]
    k = spec["k"]
    for i in range(0, len(configs), k):
        pack = configs[i : i + k]
        print(f"pack {i // k + 1}: {[c.run_id for c in pack]}", flush=True)
        if len(pack) == 1:
            results = [train_run(pack[0], spec["runs_dir"], device=spec["device"], progress=False, log=print)]
        else:
            results = train_packed(pack, spec["runs_dir"], device=spec["device"], progress=False, log=print)
        for c, r in zip(pack, results, strict=True):
            print(f"{c.run_id}: {r['status']} best {r.get('best_test_acc')} [{r.get('protocol_label')}]", flush=True)
    return 0


def pack_runs(runs_dir: Path, dest: Path, top: str) -> list[dict[str, Any]]:
    """Tar the ended runs (finished or diverged: config, metrics, result, pack; no checkpoints)."""
    ended = []
    with tarfile.open(dest, "w:gz") as tar:
        for result in sorted(runs_dir.glob("*/result.json")):
            r = json.loads(result.read_text())
            if r.get("status") not in ("finished", "diverged"):
                continue
            ended.append(
                {
                    "run_id": r["run_id"],
                    "status": r["status"],
                    "best_test_acc": r.get("best_test_acc"),
                    "protocol": r.get("protocol_label"),
                    "wall_s": r.get("provenance", {}).get("wall_time_s"),
                }
            )
            for f in ("config.json", "metrics.jsonl", "result.json", "pack.json"):
                if (result.parent / f).is_file():
                    tar.add(result.parent / f, arcname=f"{top}/{result.parent.name}/{f}")
    return ended


# ----------------------------------------------------------------------------- summary
def junit_counts(xml: Path) -> str:
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError):
        return "no junit report"
    suites = [root] if root.tag == "testsuite" else list(root)
    tot = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    passed = tot["tests"] - tot["failures"] - tot["errors"] - tot["skipped"]
    failed = [
        f"{c.get('classname')}::{c.get('name')}"
        for s in suites
        for c in s.iter("testcase")
        if c.find("failure") is not None or c.find("error") is not None
    ]
    return f"{passed} passed, {tot['failures']} failed, {tot['errors']} errors, {tot['skipped']} skipped" + (
        "".join(f"\n  - FAILED {f}" for f in failed)
    )


def write_summary(out: Path, s: dict[str, Any]) -> str:
    lines = [
        f"# GPU run {s['date']} ({'TINY CPU DRY RUN, not a measurement' if s['tiny'] else s['device']})",
        "",
        f"- command: `{s['command']}`",
        f"- device: {s['env'].get('gpu') or s['device']}; torch "
        f"{s['env'].get('torch')}, CUDA {s['env'].get('cuda')}, cuDNN {s['env'].get('cudnn')}; "
        f"driver: {s['env'].get('nvidia_smi_query', '-')}",
        f"- commit: {s['env'].get('commit')}",
        f"- budget {s['budget_s']:.0f}s, used {s['used_s']:.0f}s",
        "",
        "| phase | status | wall s |",
        "|---|---|---|",
    ]
    lines += [f"| {p['phase']} | {p['status']} | {p['wall_s']} |" for p in s["phases"]]
    lines += ["", f"## CUDA tests\n\n{s.get('tests', 'not run')}", "", "## Throughput"]
    if s.get("bench_file"):
        lines += [f"\nFull table: `{s['bench_file']}` (copy to benchmarks/results/).", ""]
    else:
        lines += ["\nno bench result this session", ""]
    lines += s["targets"]
    lines += ["", "## Standard-protocol runs", "", s["runs_note"]]
    for r in s.get("runs", []):
        acc = "-" if r["best_test_acc"] is None else f"{r['best_test_acc']:.2f}"
        lines.append(f"- {r['run_id']}: {r['status']}, best test acc {acc} [{r['protocol']}], {r['wall_s']} s")
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


# ----------------------------------------------------------------------------- main
def prepare(src: Path) -> int:
    """Copy Fashion-MNIST's four files (checksummed) and the commit into devdata/ for the device call."""
    sums = {}
    sums_file = src.parent / "SHA256SUMS"
    if sums_file.is_file():
        for line in sums_file.read_text().splitlines():
            digest, _, name = line.partition("  ")
            sums[Path(name).name] = digest
    dest = DEVDATA / "fashion-mnist"
    dest.mkdir(parents=True, exist_ok=True)
    for name in FMNIST_FILES:
        if not (src / name).is_file():
            print(
                f"gpu_run --prepare: {src / name} not found; pass --from DIR holding the four Fashion-MNIST gz files",
                file=sys.stderr,
            )
            return 2
        data = (src / name).read_bytes()
        if name in sums and hashlib.sha256(data).hexdigest() != sums[name]:
            print(f"gpu_run --prepare: {src / name} does not match SHA256SUMS; replace it", file=sys.stderr)
            return 2
        (dest / name).write_bytes(data)
    head = _git_head()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    (DEVDATA / "COMMIT").write_text(head + ("+dirty" if dirty else "") + "\n")
    size = sum(f.stat().st_size for f in DEVDATA.rglob("*") if f.is_file())
    print(
        f"devdata/: {size / 2**20:.1f} MiB (Fashion-MNIST + COMMIT {head[:10]}{'+dirty' if dirty else ''}); "
        f"carry it: run(..., carry=['devdata'])"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget-s", type=float, default=450, help="wall seconds for everything (default 450)")
    ap.add_argument("--out", help="where the few result files go (e.g. $OUT)")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu for the dry run")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes and a short protocol: the CPU dry run")
    ap.add_argument("--phases", default=",".join(PHASES), help=f"comma list of {', '.join(PHASES)}")
    ap.add_argument("--data-dir", default=str(DEVDATA), help="holds fashion-mnist/ (default devdata/)")
    ap.add_argument(
        "--bench-json",
        help="project the runs from this earlier bench JSON instead of this "
        "session's (e.g. to spend a whole call on runs: --phases env,runs)",
    )
    ap.add_argument("--work", help="scratch folder for run directories and caches (default: a temp folder)")
    ap.add_argument("--prepare", action="store_true", help="copy the data and commit into devdata/ and exit")
    ap.add_argument("--from", dest="src", default=str(SHARED_FMNIST), help="--prepare: Fashion-MNIST folder")
    ap.add_argument("--train-spec", help=argparse.SUPPRESS)  # the runs phase's child
    args = ap.parse_args(argv)
    if args.train_spec:
        return train_spec(args.train_spec)
    if args.prepare:
        return prepare(Path(args.src))
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if not args.out or any(p not in PHASES for p in phases):
        print(f"gpu_run: give --out DIR and phases among {', '.join(PHASES)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import tempfile

    work = Path(args.work or tempfile.mkdtemp(prefix="poolbench-gpu-"))
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    clock, plan, py = Clock(args.budget_s), make_plan(args.device, args.tiny), sys.executable
    s: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "tiny": args.tiny,
        "device": args.device,
        "budget_s": args.budget_s,
        "phases": [],
        "targets": [],
        "command": "benchmarks/gpu_run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "runs_note": "phase not run",
    }

    t0 = time.monotonic()
    s["env"] = environment(args.device) if "env" in phases else {}
    (out / "env.json").write_text(json.dumps(s["env"], indent=2) + "\n")
    if s["env"].get("nvidia_smi"):
        (logs / "nvidia-smi.txt").write_text(s["env"]["nvidia_smi"])
    s["phases"].append(
        {"phase": "env", "status": "ok" if "env" in phases else "skipped", "wall_s": round(time.monotonic() - t0, 1)}
    )
    left = clock.left()
    tests_s, bench_s = plan.shares[0] * left, plan.shares[1] * left

    if "tests" in phases:
        xml = logs / "cuda-tests.xml"
        # -v: one line per test as it ends, so a log cut off by the time limit still says what ran;
        # --timeout (pytest-timeout, on the GPU image): one hung test cannot take the whole phase
        import importlib.util

        per_test = ["--timeout", "150"] if importlib.util.find_spec("pytest_timeout") else []
        cmd = [
            py,
            "-m",
            "pytest",
            "-m",
            "cuda",
            "-p",
            "no:cacheprovider",
            "-v",
            "-rs",
            *per_test,
            "--junitxml",
            str(xml),
            "tests/train",
            "tests/pools",
            "tests/models",
        ]
        s["phases"].append(run_phase("tests", cmd, min(tests_s, clock.left()), work, logs / "cuda-tests.log"))
        s["tests"] = junit_counts(xml) + "\n\n```\n" + tail(logs / "cuda-tests.log", 25) + "\n```"

    result = None
    if "bench" in phases:
        records, result = bench(plan, min(bench_s, clock.left()), work, logs, py)
        s["phases"] += records
        if result is not None:
            sys.path.insert(0, str(REPO / "src"))
            from poolbench.bench import write_results

            js, _ = write_results(result, str(out))
            s["bench_file"], s["targets"] = js.name, target_lines(result)
    if args.bench_json:
        result = json.loads(Path(args.bench_json).read_text())
        s["targets"].append(
            f"- the runs below are projected from `{args.bench_json}` ({result.get('device')}, {result.get('date')})"
        )

    if "runs" in phases:
        t_runs = time.monotonic()
        proj = projections(plan, result)
        seconds = clock.left() - 15  # packing the results up afterwards
        pick = choose(plan, proj, seconds)
        runs_dir = work / "runs"
        shown = ", ".join(f"{p['mode']} K={p['k']}: {p['pack_s'] / 60:.1f} min" for p in proj) or "none measured"
        if pick is None:
            s["runs_note"] = (
                f"not started: no pack of {plan.runs_model} runs is projected to finish in the "
                f"{max(0, seconds) / 60:.1f} min left (projected per pack: {shown})."
            )
            s["phases"].append({"phase": "runs", "status": "skipped", "wall_s": 0.0})
        else:
            runs = run_list(plan)[: pick["runs"]]
            protocol = dict(plan.protocol)
            spec = {
                "model": plan.runs_model,
                "dataset": plan.runs_dataset,
                "protocol": protocol,
                "data_dir": args.data_dir,
                "device": plan.device,
                "mode": pick["mode"],
                "k": pick["k"],
                "runs": runs,
                "runs_dir": str(runs_dir),
            }
            (work / "runs-spec.json").write_text(json.dumps(spec, indent=2))
            cmd = [py, str(Path(__file__).resolve()), "--train-spec", str(work / "runs-spec.json")]
            s["phases"].append(run_phase("runs", cmd, seconds, work, logs / "runs.log"))
            names = ", ".join(f"{r['pool']}/s{r['seed']}" for r in runs)
            s["runs_note"] = (
                f"{len(runs)} runs ({names}) in packs "
                f"of {pick['k']}, mode {pick['mode']}, projected {pick['cost_s'] / 60:.1f} min "
                f"(projected per pack: {shown})."
            )
        runs_dir.mkdir(parents=True, exist_ok=True)
        top = f"gpu-{s['date'][:10]}"
        s["runs"] = pack_runs(runs_dir, out / "runs.tar.gz", top)
        s["runs_note"] += f" Ended runs: {len(s['runs'])}, in runs.tar.gz under {top}/ (extract into experiments/)."
        s["phases"][-1]["wall_s"] = round(time.monotonic() - t_runs, 1)

    s["used_s"] = args.budget_s - clock.left()
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        tar.add(logs, arcname="logs")
    print(write_summary(out, s), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
