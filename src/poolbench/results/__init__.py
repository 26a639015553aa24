"""Results: everything that reads run directories (and nothing else).

- ``index``     SQLite index rebuilt from ``runs_dir/*/{config.json,metrics.jsonl,result.json}``
- ``stats``     summaries and comparisons over seeds (scipy: Welch, bootstrap, paired tests)
- ``table``     the benchmark's leaderboard (rows pools, columns model-dataset), text/md/csv/json
- ``plots``     learning curves and bar charts with 95% confidence intervals (matplotlib, Agg)
- ``report``    one self-contained HTML page plus a Markdown twin
- ``published`` the published baseline numbers shown beside ours

They read run directories through ``poolbench.runs`` (the format's one home); training writes them.
Submodules are not imported here, so importing one stays cheap.
"""
