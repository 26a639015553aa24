"""The row label of a run's pooling method."""

from poolbench.train.label import pool_label


def test_pool_labels():
    assert pool_label({"pool": "gem", "pool_args": {}}) == "gem"
    assert pool_label({"pool": "gem", "pool_args": {"p": 3.0, "eps": 1e-6}}) == "gem(eps=1e-06,p=3)"
    assert pool_label({"pool": "avg", "pool_file": "my/pools.py:MyPool"}) == "pools.py:MyPool"
    assert (
        pool_label({"pool": "file", "pool_file": "my/pools.py:MyPool", "pool_file_sha": "3f2a9c"})
        == "pools.py:MyPool@3f2a"
    )
    v2 = {"flex_sac_version": 2}
    assert pool_label({"pool": "flex", "model_args": {"lda_layer": 2}, **v2}) == "flex [lda_layer=2]"
    assert (
        pool_label({"pool": "avg", "sac": {"stages": [1, 2], "weights": [0.1, 0.2, 0.7]}, **v2})
        == "avg +sac(stages=[1,2],weights=[0.1,0.2,0.7])"
    )
    # written before flex/SAC defaults had a version: the old meaning, kept apart from today's
    assert (
        pool_label({"pool": "avg", "sac": {"stages": [1, 2], "weight": 0.3}})
        == "avg +sac(stages=[1,2],weight=0.3) [flex/sac defaults v1]"
    )


def test_a_regularised_flexpool_run_without_sac_is_not_labelled_sac_in_either_layout():
    v2 = {"pool": "flex", "pool_args": {"weighting": "raw"}, "flex_sac_version": 2}
    now = pool_label({**v2, "sac": None, "pool_reg": 1e-3})
    assert now == "flex(weighting=raw) +pool_reg=0.001" and "+sac" not in now
    assert pool_label({**v2, "sac": {"stages": [], "weights": [1.0], "pool_reg": 1e-3}}) == now  # an old config.json
    both = pool_label({**v2, "sac": {"stages": [1, 2]}, "pool_reg": 1e-3})
    assert both == "flex(weighting=raw) +sac(stages=[1,2]) +pool_reg=0.001"


def test_surgery_is_labelled_as_runs_always_were():
    lda = {"name": "lda_downsample", "args": {"layer": 2, "weights": "w.pt"}}
    label = pool_label({"pool": "avg", "model_args": {"width": 16}, "surgery": [lda]})
    assert label == "avg [lda_layer=2,lda_weights=w.pt,width=16]"
    assert pool_label({"pool": "avg", "model_args": {"width": 16, "lda_layer": 2, "lda_weights": "w.pt"}}) == label
