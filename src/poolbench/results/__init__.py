"""Results: everything that reads run directories (and nothing else).

- ``index``     SQLite index rebuilt from ``runs_dir/*/{config.json,metrics.jsonl,result.json}``
- ``stats``     summaries and comparisons over seeds (scipy: Welch, bootstrap, paired tests)
- ``table``     the benchmark's leaderboard (rows pools, columns model-dataset), text/md/csv/json
- ``plots``     learning curves and bar charts with 95% confidence intervals (matplotlib, Agg)
- ``report``    one self-contained HTML page plus a Markdown twin
- ``published`` the published runs (the benchmark's baselines, a third-party rerun) with provenance
- ``divergence`` diverged runs as a rate with its Wilson interval; the collapse-to-chance rule
- ``power``     the smallest detectable difference at n seeds, the seeds a difference needs
- ``plan``      ``poolbench plan``: those from a column's measured spread
- ``aggregate`` across columns: interquartile mean, probability of improvement, performance
                profiles, stratified bootstrap intervals (Agarwal et al. 2021)

They read run directories through ``poolbench.runs`` (the format's one home); training writes them.
Submodules are not imported here, so importing one stays cheap.
"""
