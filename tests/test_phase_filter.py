"""A Net builds only the layers of its phase, level and stages (Caffe's Net::FilterNet), and
the data sources of those layers only: a TEST net needs no TRAIN data, and a solver loads the
sources of the nets it builds."""
import numpy as np
import pytest

import augdrop_caffe as caffe
from augdrop_caffe.data.readers import DataError
from augdrop_caffe.net import layers_in_state

from test_data_readers import datum_bytes, write_lmdb


def data_layer(name, source, rule, batch=4):
    return (f'layer {{ name: "{name}" type: "Data" top: "data" top: "label" {rule}\n'
            f'  data_param {{ source: "{source}" batch_size: {batch} }} }}\n')


BODY = ('layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"\n'
        '  inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }\n'
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }\n')


def write(tmp_path, text, name="train_val.prototxt"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_test_net_builds_without_the_train_source(tmp_path):
    # mnist:train is looked for under an empty data root; the TEST source ships with the package
    empty_root = tmp_path / "empty_root"
    empty_root.mkdir()
    path = write(tmp_path, data_layer("train_data", "mnist:train", "include { phase: TRAIN }")
                 + data_layer("test_data", "mnist-sample:test", "include { phase: TEST }") + BODY)
    net = caffe.Net(path, caffe.TEST, data_root=str(empty_root))
    assert net.layers[0].name == "test_data"
    assert np.isfinite(float(net.forward()["loss"]))
    with pytest.raises(DataError) as info:
        caffe.Net(path, caffe.TRAIN, data_root=str(empty_root))
    msg = str(info.value)
    assert "mnist:train" in msg and str(empty_root) in msg and "not found" in msg


def test_lmdb_train_val_in_test_with_only_the_test_lmdb(tmp_path):
    rng = np.random.RandomState(0)
    test_db = write_lmdb(tmp_path / "test_lmdb", [
        (b"%08d" % i, datum_bytes(rng.randint(0, 256, (1, 3, 3)).astype(np.uint8), i % 10))
        for i in range(6)])
    missing = tmp_path / "train_lmdb"  # never created
    path = write(tmp_path, data_layer("data", str(missing), "include { phase: TRAIN }")
                 + data_layer("data", test_db, "include { phase: TEST }") + BODY)
    net = caffe.Net(path, caffe.TEST)
    assert net.blobs["data"].data.shape == (4, 1, 3, 3)
    net.forward()
    with pytest.raises(DataError, match=str(missing)):
        caffe.Net(path, caffe.TRAIN)


@pytest.mark.parametrize("phase,level,stages,kept", [
    (caffe.TRAIN, 0, (), ["a"]),
    (caffe.TEST, 0, (), ["b", "e"]),
    (caffe.TEST, 2, (), ["b", "d", "e"]),
    (caffe.TEST, 0, ("deploy",), ["b", "c"]),
    (caffe.TEST, 3, ("deploy",), ["b", "c"]),
])
def test_rules_pick_the_layers_and_only_their_sources_are_read(tmp_path, phase, level, stages,
                                                               kept):
    """Every Data layer outside the state names a source that does not exist: building the net
    proves that only the kept layers' sources are read. The core's layer list and the Python
    driver's (layers_in_state) are the same reader's answer."""
    ok = "mnist-sample:test"
    rules = {"a": "include { phase: TRAIN }",
             "b": "include { phase: TEST }",
             "c": "include { phase: TEST stage: \"deploy\" }",
             "d": "include { phase: TEST min_level: 1 max_level: 2 }",
             "e": "exclude { phase: TRAIN } exclude { stage: \"deploy\" }"}
    text = ""
    for name, rule in rules.items():
        source = ok if name in kept else str(tmp_path / f"missing_{name}")
        text += data_layer(name, source, rule).replace('top: "data" top: "label"',
                                                       f'top: "data_{name}" top: "label_{name}"')
    path = write(tmp_path, text)
    net = caffe.Net(path, phase, level=level, stages=stages)
    assert [l.name for l in net.layers] == kept
    from augdrop_caffe import textformat
    net_dict = textformat.parse_file(path, "NetParameter").to_dict()
    assert [list(rules)[i] for i in layers_in_state(net_dict, phase, level, stages)] == kept


def test_net_state_in_the_prototxt_counts(tmp_path):
    path = write(tmp_path, 'state { stage: "deploy" }\n'
                 + data_layer("c", "mnist-sample:test", 'include { stage: "deploy" }')
                 + data_layer("x", str(tmp_path / "missing"), 'exclude { stage: "deploy" }'))
    assert [l.name for l in caffe.Net(path, caffe.TEST).layers] == ["c"]


def test_include_and_exclude_together_names_the_layer(tmp_path):
    path = write(tmp_path, data_layer("both", "mnist-sample:test",
                                      "include { phase: TEST } exclude { phase: TRAIN }"))
    with pytest.raises(caffe.EngineError) as info:
        caffe.Net(path, caffe.TEST)
    assert (info.value.layer, info.value.layer_type, info.value.line) == ("both", "Data", 1)
    assert "include and exclude" in str(info.value)


def solver_file(tmp_path, net, body):
    return write(tmp_path, f'net: "{net}"\nbase_lr: 0.01\nlr_policy: "fixed"\n' + body,
                 "solver.prototxt")


def test_solver_loads_the_sources_of_the_nets_it_builds(tmp_path):
    missing = str(tmp_path / "heldout_lmdb")
    net = write(tmp_path, data_layer("train", "mnist-sample:train", "include { phase: TRAIN }")
                + data_layer("val", "mnist-sample:test", 'include { phase: TEST stage: "val" }')
                + data_layer("heldout", missing, 'include { phase: TEST stage: "heldout" }')
                + BODY)
    # no test_iter: no test net, so no TEST source is read
    solver = caffe.get_solver(solver_file(tmp_path, net, ""))
    assert solver.test_nets == []
    solver.step(1)
    # a test net in stage "val": the held-out source is never read
    solver = caffe.get_solver(solver_file(tmp_path, net, 'test_iter: 1\ntest_state { stage: "val" }\n'))
    assert [l.name for l in solver.test_nets[0].layers][0] == "val"
    assert [l.name for l in solver.net.layers][0] == "train"
    solver.step(1)
    assert set(solver.test_all()[0]) == {"loss"}
    # a second test net in stage "heldout" needs it
    with pytest.raises(DataError, match=missing):
        caffe.get_solver(solver_file(tmp_path, net, 'test_iter: 1\ntest_iter: 1\n'
                                     'test_state { stage: "val" }\n'
                                     'test_state { stage: "heldout" }\n'))


def test_solver_train_net_alone_without_test_data(tmp_path):
    empty_root = tmp_path / "empty_root"
    empty_root.mkdir()
    net = write(tmp_path, data_layer("train", "mnist-sample:train", "include { phase: TRAIN }")
                + data_layer("test", "mnist:test", "include { phase: TEST }") + BODY)
    solver = caffe.get_solver(solver_file(tmp_path, net, ""), data_root=str(empty_root))
    solver.step(2)
    assert solver.iter == 2
    with pytest.raises(DataError, match="mnist:test"):
        caffe.get_solver(solver_file(tmp_path, net, "test_iter: 1\ntest_interval: 1\n"),
                         data_root=str(empty_root))
