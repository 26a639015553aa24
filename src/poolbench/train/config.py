"""RunConfig: everything that defines one training run, and the run id derived from it.

The id is a readable prefix plus a hash of every field that changes the mathematics of the run
(model, dataset, pool and its arguments, protocol, seed, ...) and of what the data *is*: a content
fingerprint of the images the run trains and tests on (``train/data.py``), so another folder, copy
or subset is another run. Fields that only say *where* or *how fast* (data path, device,
channels_last) are recorded but are not part of the id. A user's pool file joins by its resolved
path and its sha256.

A ``RunConfig`` is a plain frozen value: making, copying and (de)serialising one reads nothing.
The fields that come from the world (the data's fingerprint, the sha256 of a pool file or of
fitted weights, the versions of this code's defaults) are filled by one explicit step,
``train.resolve.resolve(config)``; the id is a pure function of the resolved value and refuses
(``UnresolvedConfigError``) to be computed from an unresolved one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..runs import run_id_part
from .protocol import Protocol
from .selection import DataSelection
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
# version in its config and its id). 1 (the first defaults): one softmax map shared by the channels,
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


def pool_fields(spec: str) -> dict[str, Any]:
    """RunConfig's pool fields for a pool spec: a registered name (``gem``) or a user's file
    (``custom_pool.py``, ``custom_pool.py:MyPool``; class default CustomPool), recorded by its
    resolved path (``resolve`` adds its sha256). ValueError naming the file when it does not exist."""
    from ..pools.loader import is_pool_file_spec, normalize_pool_file_spec

    if not is_pool_file_spec(spec):
        return {"pool": spec}
    return dict(pool="file", pool_file=normalize_pool_file_spec(spec))


class UnresolvedConfigError(ValueError):
    """A run id (or identity) asked of a config whose world-derived fields are not filled in yet."""


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
    # filled from the files by ``resolve``, then checked before training
    weight_file_sha: dict[str, str] = field(default_factory=dict)
    # FLEX_SAC_VERSION for runs that use the flex pool or SAC (filled in by ``resolve``), None for the others
    flex_sac_version: int | None = None
    # RESNET_INIT_VERSION for the CIFAR ResNets (filled in by ``resolve``), None for the other models
    init_version: int | None = None
    # sha256 (16 hex) of the selected data (train/data.py); filled in by ``resolve``
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

    @property
    def uses_flex_or_sac(self) -> bool:
        return self.pool == "flex" or self.sac is not None or self.pool_reg is not None

    def check_flex_sac_version(self) -> None:
        """Refuse to build a run made under other FlexPool/SAC defaults than this code's."""
        if self.flex_sac_version not in (None, FLEX_SAC_VERSION):
            raise ValueError(
                f"this {self.model} {self.pool} run was made with the FlexPool/SAC defaults of version "
                f"{self.flex_sac_version} "
                f"(a shared softmax map, an L2 penalty on its logits, loss CE(main) + 0.3 sum CE(aux)); this "
                f"poolbench has version {FLEX_SAC_VERSION} (per-channel map, the paper's R, the paper's SAC "
                f"weights), so rebuilding it would silently give another model. Its run directory is kept; "
                f"train it again to get a version-{FLEX_SAC_VERSION} run (a new run id)"
            )

    def model_init(self) -> dict[str, str]:
        """The model's ``init`` argument for the initialisation this run was made with ({} for a
        model without versions; this code's version for a ResNet that records none yet, as
        ``resolve`` would fill in); ValueError for a version this poolbench does not know."""
        version = self.init_version
        if version is None and self.model in RESNET_MODELS:
            version = RESNET_INIT_VERSION
        if version is None:
            return {}
        if version not in RESNET_INITS:
            raise ValueError(
                f"this {self.model} run was made with initialisation version {version}; this "
                f"poolbench knows versions {', '.join(map(str, RESNET_INITS))}: use the poolbench that made it"
            )
        return {"init": RESNET_INITS[version]}

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

    def data_selection(self) -> DataSelection:
        """The images this run trains, validates and tests on (``train/data.py`` reads them)."""
        return DataSelection(
            dataset=self.dataset,
            data_path=self.data_path,
            data_dir=self.data_dir,
            train_subset=self.protocol.train_subset,
            test_subset=self.protocol.test_subset,
            val_split=self.val_split,
            holdout=self.holdout,
        )

    # --- resolution -----------------------------------------------------------------------
    def unresolved(self, schema: int = CONFIG_SCHEMA) -> list[str]:
        """The fields the identity needs that are not filled in yet (``train/resolve.py`` fills
        them from the files, the data and this code's versions); [] for a resolved config."""
        missing = []
        if self.pool_file and not self.pool_file_sha:
            missing.append("pool_file_sha")
        if self.weight_files() and not self.weight_file_sha:
            missing.append("weight_file_sha")
        if self.uses_flex_or_sac and self.flex_sac_version is None:
            missing.append("flex_sac_version")
        if self.model in RESNET_MODELS and self.init_version is None:
            missing.append("init_version")
        if schema >= 2 and self.data_fingerprint is None:
            missing.append("data_fingerprint")
        return missing

    @property
    def is_resolved(self) -> bool:
        return not self.unresolved()

    def check_resolved(self, schema: int = CONFIG_SCHEMA) -> None:
        """``UnresolvedConfigError`` (one line saying to resolve it) unless resolved for ``schema``."""
        missing = self.unresolved(schema)
        if missing:
            raise UnresolvedConfigError(
                f"run config {self.model}/{self.dataset}/{self.pool} seed {self.seed} is not resolved "
                f"({', '.join(missing)} unset): call poolbench.train.resolve.resolve(config) first"
            )

    # --- identity -------------------------------------------------------------------------
    def identity(self, schema: int = CONFIG_SCHEMA) -> dict[str, Any]:
        """The fields that define the run; ``schema=1`` leaves out the data fingerprint, as run dirs
        written before schema 2 did (``train/migrate.py`` uses it to check a stored id).
        ``UnresolvedConfigError`` when a field it needs is not filled in: never a different id."""
        self.check_resolved(schema)
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
        if "init_version" not in d:  # none recorded on a ResNet: version 1, the old one
            d["init_version"] = init_version_of(d)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes``. What was resolved from a file or the data is dropped (unless
        given) where the change names other files or other data, so ``resolve`` fills it afresh:
        the data fingerprint and label when the data selection changes, the pool file's sha256
        when the pool file does, the weights' sha256s when the weights files do."""
        new = dataclasses.replace(self, **changes)
        stale: dict[str, Any] = {}
        if new.data_selection() != self.data_selection():
            stale.update(data_fingerprint=None, data_label=None)
        if new.pool_file != self.pool_file:
            stale["pool_file_sha"] = None
        if new.weight_files() != self.weight_files():
            stale["weight_file_sha"] = {}
        stale = {k: v for k, v in stale.items() if k not in changes}
        return dataclasses.replace(new, **stale) if stale else new
