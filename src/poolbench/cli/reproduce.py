"""``poolbench reproduce NAME``: a seed paper's table, run where missing, printed beside the paper's."""

from __future__ import annotations


def register(subparsers) -> None:
    from poolbench.reproduce import reproductions

    p = subparsers.add_parser(
        "reproduce",
        help="a seed paper's table: runs what is missing, prints ours beside the paper's",
        description="Reproduce a seed paper's table. Each NAME has its own options (--help after it).",
    )
    names = p.add_subparsers(dest="paper", metavar="NAME")
    for name, module in reproductions().items():
        q = names.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(q)
        q.set_defaults(func=module.main)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
