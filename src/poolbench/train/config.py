"""RunConfig: everything that defines one training run, and the run id derived from it.

The id is a readable prefix plus a hash of every field that changes the mathematics of the run
(model, dataset, pool and its arguments, protocol, seed, ...) and of what the data *is*: a content
fingerprint of the images the run trains and tests on (``train/data.py``), so another folder, copy
or subset is another run. Fields that only say *where* or *how fast* (data path, device,
channels_last) are recorded but are not part of the id. A user's pool file joins by its resolved
path and its sha256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fileio import sha256_file
from ..runs import run_id_part
from .protocol import Protocol
from .stored_layout import declared_layout, identity_layout
from .surgery import weight_files as surgery_weight_files

#: config.json format: 2 added ``data_fingerprint`` (run dirs written before it are migrated by
#: ``python -m poolbench.train.migrate RUNS_DIR``; unmigrated ones are read as schema 1).
CONFIG_SCHEMA = 2
# Not part of the identity: where the data lives and speed-only switches.
_NOT_IDENTITY = ("data_path", "data_dir", "channels_last", "compile", "compile_mode", "data_label")
# Pool arguments that name a file of learned weights the run reads (``poolbench fit-lda`` output;
# surgery declares its own, ``train/surgery.py``). The path alone does not define the run:
# refitting into the same file must give a new run id.
WEIGHT_FILE_ARGS = (("pool_args", "weights"),)
# What the defaults of the FlexPooling pool and of SAC mean (a run that uses either records the
# version in its config and its id). 1 (before issue 16): one softmax map shared by the channels,
# an L2 penalty on its logits, loss CE(main) + 0.3 sum CE(aux). 2: the authors' per-channel map,
# the paper's R on raw weights (weights="raw"), the paper's Eq. 3 weights 0.1/0.2/0.7.
FLEX_SAC_VERSION = 2
# How the CIFAR ResNets are initialised (``models.head.INITS``); a run of one records the version in
# its config. 1 (a config.json without it): torchvision's convention, fan_out convolutions and a
# normal(0, 0.01) head. 2: the reference's (akamaster/pytorch_resnet_cifar10, FlexPoolU), Kaiming
# fan_in on the convolutions and the classifier. Version 1 is left out of the id, so the runs made
# with it keep the ids they always had and version 2 runs get new ones.
RESNET_INITS = {1: "torchvision", 2: "kaiming_fan_in"}
RESNET_INIT_VERSION = 2
RESNET_MODELS = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110")


def init_version_of(config: dict[str, Any]) -> int | None:
    """The initialisation version a stored config.json describes (1 for a ResNet run written before
    the version was recorded; None for the models without versions)."""
    if config.get("init_version") is not None:
        return int(config["init_version"])
    return 1 if config.get("model") in RESNET_MODELS else None


#: The largest file whose content joins a run's identity (a pool file, fitted weights).
IDENTITY_FILE_CAP = 1 << 30


def file_sha256(path: str) -> str:
    """The first 16 hex digits of the file's sha256; a regular file only (never a FIFO or a link to
    ``/dev/zero`` that a config.json could name): ``fileio.UnsafeFileError`` otherwise."""
    return sha256_file(path, IDENTITY_FILE_CAP)[:16]


def pool_fields(spec: str) -> dict[str, Any]:
    """RunConfig's pool fields for a pool spec: a registered name (``gem``) or a user's file
    (``custom_pool.py``, ``custom_pool.py:MyPool``; class default CustomPool), recorded by its
    resolved path and sha256. ValueError naming the file when it does not exist."""
    from ..pools.loader import is_pool_file_spec, normalize_pool_file_spec

    if not is_pool_file_spec(spec):
        return {"pool": spec}
    full = normalize_pool_file_spec(spec)
    return dict(pool="file", pool_file=full, pool_file_sha=file_sha256(full.rpartition(":")[0]))


@dataclass(frozen=True)
class RunConfig:
    model: str
    dataset: str
    pool: str = "avg"
    pool_args: dict[str, Any] = field(default_factory=dict)
    pool_file: str | None = None  # "path/to/file.py:ClassName"; its file's sha256 joins the id
    pool_file_sha: str | None = None
    seed: int = 0
    protocol: Protocol = field(default_factory=Protocol)
    val_split: int = 0  # hold out this many training images (fixed, seed-independent) for validation
    # a cross-validation fold: {"fraction": 0.2, "fold": 0..4}, held out of the (reduced) training set
    # (``data.holdout_fold``); its accuracy is the run's val_acc. None: absent from the id.
    holdout: dict[str, Any] | None = None
    amp: str = "none"  # "none" (fp32) or "bf16" (autocast inside forward/backward only)
    model_args: dict[str, Any] = field(default_factory=dict)  # the model's own keywords, e.g. {"drop_rate": 0.2}
    # a paper's changes to the built model, applied in order (``train/surgery.py``), e.g.
    # ({"name": "lda_downsample", "args": {"layer": 2, "weights": "fit.pt"}},)
    surgery: tuple[dict[str, Any], ...] = ()
    sac: dict[str, Any] | None = None  # auxiliary classifiers, e.g. {"stages": [1, 2], "weights": [0.1, 0.2, 0.7]}
    # coefficient of the pool's weight regulariser in the training loss (a pool with ``weight_penalty``:
    # raw-weight flex, the FlexPooling paper's Eq. 2), with or without ``sac``; None: no regulariser
    pool_reg: float | None = None
    # sha256 (16 hex) of each weights file named in WEIGHT_FILE_ARGS, keyed "pool_args.weights" etc.;
    # filled from the files when the config is made (if they exist), then checked before training
    weight_file_sha: dict[str, str] = field(default_factory=dict)
    # FLEX_SAC_VERSION for runs that use the flex pool or SAC (filled in), None for the others
    flex_sac_version: int | None = None
    # RESNET_INIT_VERSION for the CIFAR ResNets (filled in), None for the other models
    init_version: int | None = None
    # sha256 (16 hex) of the selected data (train/data.py); computed on first use of the run id
    data_fingerprint: str | None = None
    # what tables call the data: the dataset name, or e.g. "cifar10-jpeg" (derived from the data, so
    # not part of the identity beyond the fingerprint)
    data_label: str | None = None
    data_path: str | None = None
    data_dir: str | None = None
    channels_last: bool = False
    compile: bool = False
    # torch.compile's mode when ``compile``: None (default) or "reduce-overhead" (CUDA graphs on a GPU)
    compile_mode: str | None = None

    def __post_init__(self) -> None:
        if self.pool_file and not self.pool_file_sha and Path(self.pool_file.rpartition(":")[0]).is_file():
            object.__setattr__(self, "pool_file_sha", file_sha256(self.pool_file.rpartition(":")[0]))
        if not self.weight_file_sha:
            object.__setattr__(self, "weight_file_sha", self.current_weight_file_sha())
        if self.flex_sac_version is None and self.uses_flex_or_sac:
            object.__setattr__(self, "flex_sac_version", FLEX_SAC_VERSION)
        if self.init_version is None and self.model in RESNET_MODELS:
            object.__setattr__(self, "init_version", RESNET_INIT_VERSION)

    @property
    def uses_flex_or_sac(self) -> bool:
        return self.pool == "flex" or self.sac is not None or self.pool_reg is not None

    def check_flex_sac_version(self) -> None:
        """Refuse to build a run made under other FlexPool/SAC defaults than this code's."""
        if self.flex_sac_version not in (None, FLEX_SAC_VERSION):
            raise ValueError(
                f"run {self.run_id} was made with the FlexPool/SAC defaults of version {self.flex_sac_version} "
                f"(a shared softmax map, an L2 penalty on its logits, loss CE(main) + 0.3 sum CE(aux)); this "
                f"poolbench has version {FLEX_SAC_VERSION} (per-channel map, the paper's R, the paper's SAC "
                f"weights), so rebuilding it would silently give another model. Its run directory is kept; "
                f"train it again to get a version-{FLEX_SAC_VERSION} run (a new run id)"
            )

    def model_init(self) -> dict[str, str]:
        """The model's ``init`` argument for the initialisation this run was made with ({} for a
        model without versions); ValueError for a version this poolbench does not know."""
        if self.init_version is None:
            return {}
        if self.init_version not in RESNET_INITS:
            raise ValueError(
                f"this {self.model} run was made with initialisation version {self.init_version}; this "
                f"poolbench knows versions {', '.join(map(str, RESNET_INITS))}: use the poolbench that made it"
            )
        return {"init": RESNET_INITS[self.init_version]}

    def weight_files(self) -> dict[str, str]:
        """{"pool_args.weights": path, ...} for every weights file this run reads."""
        out = {}
        for group, key in WEIGHT_FILE_ARGS:
            value = (getattr(self, group) or {}).get(key)
            if isinstance(value, (str, Path)):
                out[f"{group}.{key}"] = str(value)
            elif isinstance(value, (list, tuple)):  # several files, one each
                out.update({f"{group}.{key}[{i}]": str(v) for i, v in enumerate(value)})
        out.update(surgery_weight_files(self.surgery))
        return out

    def current_weight_file_sha(self) -> dict[str, str]:
        """The hashes of the weights files as they are on disk now (missing files are left out)."""
        return {k: file_sha256(p) for k, p in self.weight_files().items() if Path(p).is_file()}

    def check_weight_files(self) -> None:
        """Refuse to train when a weights file is missing or differs from the one this run was made with."""
        now = self.current_weight_file_sha()
        for key, path in self.weight_files().items():
            if key not in now:
                raise FileNotFoundError(
                    f"{key}={path}: no such file; run `poolbench fit-lda` to write it, or fix the path"
                )
            if key in self.weight_file_sha and now[key] != self.weight_file_sha[key]:
                raise ValueError(
                    f"{key}={path} changed since this run was configured (sha256 "
                    f"{self.weight_file_sha[key]} then, {now[key]} now): a resumed run would mix two "
                    f"weight sets; start a new run (a new config picks up the new file and a new id)"
                )

    def check_pool_file(self) -> None:
        """Refuse to train when the pool file is gone or was edited since this run was configured."""
        if not self.pool_file:
            return
        path = self.pool_file.rpartition(":")[0]
        if not Path(path).is_file():
            raise FileNotFoundError(f"pool file {path} not found; fix the path or restore the file")
        now = file_sha256(path)
        if self.pool_file_sha and now != self.pool_file_sha:
            raise ValueError(
                f"pool file {path} changed since this run was configured (sha256 {self.pool_file_sha} "
                f"then, {now} now): the edited pool is another run; run the command again to start it"
            )

    # --- data -----------------------------------------------------------------------------
    def resolve_data_fingerprint(self, download: bool = True) -> str:
        """The data's fingerprint, computed (and kept on this config) the first time it is asked for.

        Raises ``poolbench.data.DataError`` when the data cannot be read (with ``download=False``,
        also when an official archive would have to be downloaded first)."""
        if self.data_fingerprint is not None:
            return self.data_fingerprint
        from .data import data_identity

        fp, label = data_identity(self, download=download)
        object.__setattr__(self, "data_fingerprint", fp)
        object.__setattr__(self, "data_label", label)
        return fp

    def check_data(self) -> None:
        """Refuse to resume on data that differs from what this run was configured with."""
        if self.data_fingerprint is None:
            return
        from .data import data_fingerprint

        now = data_fingerprint(self)
        if now != self.data_fingerprint:
            raise ValueError(
                f"the data for {self.dataset} ({self.data_path or self.data_dir or 'default location'}) is not "
                f"what this run was configured with (fingerprint {self.data_fingerprint} then, {now} now); "
                f"start a new run on it (a new config gets a new run id)"
            )

    # --- identity -------------------------------------------------------------------------
    def identity(self, schema: int = CONFIG_SCHEMA) -> dict[str, Any]:
        """The fields that define the run; ``schema=1`` leaves out the data fingerprint, as run dirs
        written before schema 2 did (``train/migrate.py`` uses it to check a stored id)."""
        if schema >= 2:
            self.resolve_data_fingerprint()
        d = identity_layout(self.to_dict())  # surgery and pool_reg as runs always recorded them
        for k in _NOT_IDENTITY:
            d.pop(k, None)
        if schema < 2:
            d.pop("data_fingerprint")
        if not d["weight_file_sha"]:  # runs without weights files keep the ids they always had
            d.pop("weight_file_sha")
        if d["flex_sac_version"] is None:  # runs without flex or SAC keep the ids they always had
            d.pop("flex_sac_version")
        if d["init_version"] in (None, 1):  # other models, and ResNets made before the version, too
            d.pop("init_version")
        if d.get("holdout") is None:
            d.pop("holdout", None)
        return d

    def run_id_for(self, schema: int = CONFIG_SCHEMA, file_stem: bool = True) -> str:
        """The readable prefix and the identity's hash. A pool file is named by its file's stem and
        class (``file-deepseek_channel_gate-CustomPool``), so two files' runs differ at a glance;
        ``file_stem=False`` gives the class-only prefix that ids had before (``train/migrate.py``
        renames such directories). The prefix is not hashed: the digest is the same either way."""
        blob = json.dumps(self.identity(schema), sort_keys=True, default=str).encode()
        digest = hashlib.sha1(blob).hexdigest()[:10]
        pool = self.pool
        if self.pool_file:
            path, _, cls = self.pool_file.rpartition(":")
            pool = f"file-{Path(path).stem}-{cls}" if file_stem else f"file-{cls}"
        # config text is data: only the run-id alphabet reaches the directory name (the digest,
        # over the whole identity, keeps two runs whose names map to the same text apart)
        parts = (self.model, self.dataset, pool, f"s{self.seed}")
        return "-".join(map(run_id_part, parts)) + f"-{digest}"

    def settings_key(self) -> str:
        """What the user asked for, before the data is looked at: equal keys, equal runs."""
        d = self.to_dict()
        d.pop("data_fingerprint")
        d.pop("data_label")
        return json.dumps(d, sort_keys=True, default=str)

    @property
    def run_id(self) -> str:
        return self.run_id_for(CONFIG_SCHEMA)

    @property
    def is_standard(self) -> bool:
        return self.protocol.is_standard and self.val_split == 0 and self.holdout is None and self.amp == "none"

    def protocol_label(self) -> str:
        label = self.protocol.label()
        extra = []
        if self.val_split:
            extra.append(f"val_split={self.val_split}")
        if self.holdout is not None:
            extra.append(f"holdout={self.holdout['fraction']}/fold{self.holdout['fold']}")
        if self.amp != "none":
            extra.append(f"amp={self.amp}")
        if extra:
            if label == "standard":
                label = "non-standard (" + ", ".join(extra) + ")"
            else:
                label = label[:-1] + ", " + ", ".join(extra) + ")"
        return label

    # --- (de)serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["protocol"] = self.protocol.to_dict()
        d["surgery"] = [dict(e) for e in self.surgery]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        d = declared_layout(d)  # a config.json written before surgery and pool_reg were fields
        d["protocol"] = Protocol.from_dict(d.get("protocol", {}))
        d["surgery"] = tuple(dict(e) if isinstance(e, dict) else e for e in d.get("surgery") or ())
        uses_flex_or_sac = d.get("pool") == "flex" or d.get("sac") is not None or d.get("pool_reg") is not None
        if "flex_sac_version" not in d and uses_flex_or_sac:
            d["flex_sac_version"] = 1  # written before the version existed: the old defaults
        d["init_version"] = init_version_of(d)  # none recorded on a ResNet: version 1, the old one
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes``; the data fingerprint is recomputed unless given (the data may differ)."""
        changes.setdefault("data_fingerprint", None)
        changes.setdefault("data_label", None)
        return dataclasses.replace(self, **changes)
