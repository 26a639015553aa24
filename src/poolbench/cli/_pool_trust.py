"""The flags by which the user lets an analysis command import the pool file a run names.

A run trained with ``--pool-file`` records the file's path and sha256 in its config.json; a
config.json is data anyone who can write the runs directory can edit, so ``show``, ``robustness``
and ``fit-lda`` import that file only when the user asks on the command line (checked in
``poolbench.trained.check_pool_file``). Kept apart from ``_trained`` so that parsers are built without
importing torch.
"""

from __future__ import annotations

import argparse


def add_pool_file_arguments(parser: argparse.ArgumentParser) -> None:
    """``--trust-pool-file`` and ``--pool-file``: how the user lets a command import the pool file a
    run's config.json names (nothing else does)."""
    parser.add_argument(
        "--trust-pool-file",
        action="store_true",
        help="import the pool file the run's config.json names (a run trained with --pool-file); its "
        "sha256 must be the one the run recorded. Without this flag (or --pool-file) no code named by "
        "a run directory is imported",
    )
    parser.add_argument(
        "--pool-file",
        metavar="PATH",
        help="the pool file to import for a run trained with --pool-file (path/to/file.py[:Class]); its "
        "sha256 must be the one the run recorded",
    )
