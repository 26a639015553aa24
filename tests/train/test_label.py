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
