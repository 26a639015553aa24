"""Which flag sets which field of a run's configuration: the one table the command line names
problems by.

``train.preflight`` and the builders name what is wrong by its ``RunConfig`` field (``sac.stages``,
``surgery.lda_downsample.layer``, ``pool_args.p``); ``flag_of`` finds the flag that set it, the
longest field prefix in ``FLAGS`` (``model_args.width`` -> ``--model-arg``, shown as
``width=VALUE``).
"""

from __future__ import annotations

#: RunConfig field (a dotted path) -> the flag of run, sweep, demo and harness that sets it.
FLAGS: dict[str, str] = {
    "dataset": "--dataset",
    "model": "--model",
    "pool": "--pool",
    "pool_file": "--pool-file",
    "pool_args": "--pool-arg",
    "model_args": "--model-arg",
    "model_args.drop_rate": "--drop-rate",
    "surgery": "--surgery",
    "surgery.lda_downsample.layer": "--lda-layer",
    "surgery.lda_downsample.weights": "--lda-weights",
    "sac": "--sac",
    "sac.stages": "--sac-stages",
    "sac.weights": "--sac-weights",
    "pool_reg": "--pool-reg",
}
#: Flags that take KEY=VALUE (``--surgery``: NAME:KEY=VALUE): a field below them shows that way.
KEY_VALUE_FLAGS = ("--pool-arg", "--model-arg", "--surgery")


def flag_of(field: str) -> tuple[str, str]:
    """(the flag that sets ``field``, the rest of the field below the flag's), e.g.
    ``model_args.width`` -> (``--model-arg``, ``width``)."""
    parts = field.split(".")
    for i in range(len(parts), 0, -1):
        head = ".".join(parts[:i])
        if head in FLAGS:
            return FLAGS[head], ".".join(parts[i:])
    raise KeyError(f"no flag sets the field {field!r}; add it to cli/_flags.FLAGS")
