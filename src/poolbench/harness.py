"""``python -m poolbench.harness custom_pool.py --arch resnet56 --dataset cifar100 --seed 42``.

The benchmark's command line on poolbench's engine; the same as ``poolbench harness`` (see
``poolbench/cli/harness.py``). A pool file can end with ``raise SystemExit(main(pool_file=__file__))``
under ``if __name__ == "__main__":`` to run as ``python custom_pool.py --arch ... --dataset ...``.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None, pool_file: str | None = None) -> int:
    from .cli import OneLineParser, harness

    parser = OneLineParser(
        prog="python -m poolbench.harness" if pool_file is None else pool_file,
        description=harness.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    harness.add_arguments(parser, with_file=pool_file is None)
    args = parser.parse_args(argv)
    if pool_file is not None:
        args.pool_file = pool_file
    return harness.main(args)


if __name__ == "__main__":
    sys.exit(main())
