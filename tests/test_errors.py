"""Bad input gives one clear Python exception that names the file, line and layer; never a
crash of the interpreter, and the net stays usable after a runtime error."""
import numpy as np
import pytest

import augdrop_caffe as caffe

F32 = np.float32

INPUT = ('layer { name: "input" type: "Input" top: "x" top: "label"\n'
         "  input_param { shape { dim: 4 dim: 5 } shape { dim: 4 } } }\n")  # lines 1-2
IP = ('layer { name: "ip" type: "InnerProduct" bottom: "x" top: "s"\n'
      '  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 1 } } }\n')
LOSS = 'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "s" bottom: "label" top: "loss" }\n'


def write(tmp_path, text, name="net.prototxt"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def net_error(tmp_path, text, exc=caffe.EngineError, phase=caffe.TRAIN):
    path = write(tmp_path, text)
    with pytest.raises(exc) as info:
        caffe.Net(path, phase)
    return str(info.value), path


def feed(net, labels=(0, 2, 1, 2)):
    net.blobs["x"].data[...] = np.random.default_rng(0).normal(size=(4, 5))
    net.blobs["label"].data[...] = labels


def test_error_classes():
    assert issubclass(caffe.PrototxtError, ValueError)
    assert issubclass(caffe.EngineError, RuntimeError)


# --- construction ------------------------------------------------------------------------------

def test_unknown_layer_type(tmp_path):
    text = INPUT + 'layer { name: "weird" type: "Bogus" bottom: "x" top: "y" }\n'
    msg, path = net_error(tmp_path, text, (caffe.EngineError, caffe.PrototxtError))
    assert f"{path}:3" in msg
    assert "weird" in msg and "Bogus" in msg


@pytest.mark.parametrize("text,line,field", [
    (INPUT + IP.replace("num_output: 3", "num_output: 3 bogus_field: 4"), 4, "bogus_field"),
    (INPUT + 'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "s"\n'
             "  frobnicate: true inner_product_param { num_output: 3 } }\n", 4, "frobnicate"),
    ("name: \"n\"\nnot_a_net_field: 1\n" + INPUT, 2, "not_a_net_field"),
])
def test_unknown_field(tmp_path, text, line, field):
    msg, path = net_error(tmp_path, text, caffe.PrototxtError)
    assert f"{path}:{line}" in msg
    assert field in msg


def test_unknown_field_in_solver(tmp_path):
    net = write(tmp_path, INPUT + IP + LOSS)
    solver = write(tmp_path, f'net: "{net}"\nbase_lr: 0.1\nlr_polcy: "fixed"\n', "solver.prototxt")
    with pytest.raises(caffe.PrototxtError) as info:
        caffe.get_solver(solver)
    assert f"{solver}:3" in str(info.value) and "lr_polcy" in str(info.value)


def test_bad_enum_value(tmp_path):
    text = INPUT + 'layer { name: "pool" type: "Pooling" bottom: "x" top: "y"\n' \
                   "  pooling_param { pool: MEDIAN kernel_size: 2 } }\n"
    msg, path = net_error(tmp_path, text, (caffe.PrototxtError, caffe.EngineError))
    assert f"{path}:" in msg and "MEDIAN" in msg


def test_bad_value_type(tmp_path):
    text = INPUT + IP.replace("num_output: 3", "num_output: three")
    msg, path = net_error(tmp_path, text, caffe.PrototxtError)
    assert f"{path}:4" in msg and "num_output" in msg


def test_bottom_that_nothing_produces(tmp_path):
    text = INPUT + IP.replace('bottom: "x"', 'bottom: "nothing_here"')
    msg, path = net_error(tmp_path, text)
    assert "'ip'" in msg and "nothing_here" in msg
    assert f"{path}:3" in msg


def test_bottom_produced_only_later(tmp_path):
    text = INPUT + IP.replace('bottom: "x"', 'bottom: "late"') + \
        'layer { name: "relu" type: "ReLU" bottom: "x" top: "late" }\n'
    msg, _ = net_error(tmp_path, text)
    assert "'ip'" in msg and "late" in msg


@pytest.mark.parametrize("layer,param", [
    ("Dropout", "dropout_param { dropout_ratio: 1.0 }"),
    ("Dropout", "dropout_param { dropout_ratio: -0.1 }"),
    ("AugmentedDropout", "augmented_dropout_param { forward_ratio: 1.0 }"),
    ("AugmentedDropout", "augmented_dropout_param { forward_ratio: -0.1 }"),
    ("AugmentedDropout", "augmented_dropout_param { variant: BACKWARD backward_ratio: 1.0 }"),
    ("AugmentedDropout", "augmented_dropout_param { variant: AUGMENTED backward_ratio: -0.1 }"),
])
@pytest.mark.parametrize("phase", [caffe.TRAIN, caffe.TEST])
def test_dropout_ratio_out_of_range(tmp_path, layer, param, phase):
    text = INPUT + f'layer {{ name: "drop7" type: "{layer}" bottom: "x" top: "x" {param} }}\n'
    msg, path = net_error(tmp_path, text, phase=phase)
    assert "drop7" in msg and layer in msg and "ratio" in msg
    assert f"{path}:3" in msg


def test_dropout_ratio_out_of_range_through_solver(tmp_path):
    net = write(tmp_path, INPUT + 'layer { name: "drop7" type: "Dropout" bottom: "x" top: "x" '
                          "dropout_param { dropout_ratio: 1.0 } }\n" + IP + LOSS)
    solver = write(tmp_path, f'net: "{net}"\nbase_lr: 0.1\nlr_policy: "fixed"\n', "s.prototxt")
    with pytest.raises(caffe.EngineError) as info:
        caffe.get_solver(solver)
    assert "drop7" in str(info.value) and f"{net}:3" in str(info.value)


def test_shape_mismatch_at_setup(tmp_path):
    text = INPUT + 'layer { name: "elt" type: "Eltwise" bottom: "x" bottom: "label" top: "y" }\n'
    msg, _ = net_error(tmp_path, text)
    assert "'elt'" in msg and "Eltwise" in msg


def test_duplicate_top(tmp_path):
    text = INPUT + IP + IP.replace('name: "ip"', 'name: "ip_again"')
    msg, _ = net_error(tmp_path, text)
    assert "ip_again" in msg


def test_bad_layer_parameter_names_the_layer(tmp_path):
    text = INPUT + IP.replace("num_output: 3", "num_output: 0")
    msg, path = net_error(tmp_path, text)
    assert "'ip'" in msg and "num_output" in msg and f"{path}:3" in msg


# --- malformed prototxt ------------------------------------------------------------------------

def test_unterminated_block(tmp_path):
    text = INPUT + 'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "s"\n' \
                   "  inner_product_param { num_output: 3 }\n\n"
    msg, path = net_error(tmp_path, text, caffe.PrototxtError)
    assert f"{path}:3" in msg
    assert "'}'" in msg or "unterminated" in msg.lower() or "end of" in msg.lower()


@pytest.mark.parametrize("text,line", [
    (INPUT + 'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "s" }\n}\n', 4),
    (INPUT + 'layer { name: "ip" type: "InnerProduct"\n  bottom "x" top: "s" }\n', 4),
    (INPUT + 'layer { name: "ip type: "InnerProduct" }\n', 3),
    ('name: "n"\nlayer { name: "a" type: "Input" top: "x"\n  input_param { shape { dim: 2 dim: -x } } }\n', 3),
])
def test_malformed_prototxt_reports_its_line(tmp_path, text, line):
    msg, path = net_error(tmp_path, text, caffe.PrototxtError)
    assert f"{path}:{line}" in msg


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        caffe.Net(str(tmp_path / "missing.prototxt"), caffe.TRAIN)
    with pytest.raises(FileNotFoundError):
        caffe.get_solver(str(tmp_path / "missing_solver.prototxt"))
    solver = write(tmp_path, 'net: "no_such_net.prototxt"\nbase_lr: 0.1\n', "s.prototxt")
    with pytest.raises(FileNotFoundError) as info:
        caffe.get_solver(solver)
    assert "no_such_net.prototxt" in str(info.value)
    net = caffe.Net(write(tmp_path, INPUT + IP + LOSS), caffe.TRAIN)
    with pytest.raises((FileNotFoundError, caffe.CaffeModelError, OSError)) as info:
        net.copy_from(str(tmp_path / "missing.caffemodel"))
    assert "missing.caffemodel" in str(info.value)


def test_net_without_phase(tmp_path):
    with pytest.raises(TypeError):
        caffe.Net(write(tmp_path, INPUT + IP))


# --- weights ------------------------------------------------------------------------------------

def test_caffemodel_with_wrong_shapes(tmp_path):
    a = caffe.Net(write(tmp_path, INPUT + IP + LOSS, "a.prototxt"), caffe.TRAIN)
    model = str(tmp_path / "a.caffemodel")
    a.save(model)
    b = caffe.Net(write(tmp_path, INPUT + IP.replace("num_output: 3", "num_output: 4") + LOSS,
                        "b.prototxt"), caffe.TRAIN)
    before = np.array(b.params["ip"][0].data)
    with pytest.raises((caffe.EngineError, caffe.CaffeModelError)) as info:
        b.copy_from(model)
    msg = str(info.value)
    assert "'ip'" in msg and "a.caffemodel" in msg
    assert "(3, 5)" in msg and "(4, 5)" in msg
    np.testing.assert_array_equal(b.params["ip"][0].data, before)
    # the right shapes load
    c = caffe.Net(write(tmp_path, INPUT + IP + LOSS, "c.prototxt"), caffe.TRAIN)
    c.copy_from(model)
    np.testing.assert_array_equal(c.params["ip"][0].data, a.params["ip"][0].data)


def test_caffemodel_with_wrong_param_count(tmp_path):
    a = caffe.Net(write(tmp_path, INPUT + IP + LOSS, "a.prototxt"), caffe.TRAIN)
    model = str(tmp_path / "a.caffemodel")
    a.save(model)
    b = caffe.Net(write(tmp_path, INPUT + IP.replace("num_output: 3",
                                                     "num_output: 3 bias_term: false") + LOSS,
                        "b.prototxt"), caffe.TRAIN)
    with pytest.raises((caffe.EngineError, caffe.CaffeModelError)) as info:
        b.copy_from(model)
    assert "'ip'" in str(info.value)


def test_corrupt_caffemodel(tmp_path):
    net = caffe.Net(write(tmp_path, INPUT + IP + LOSS), caffe.TRAIN)
    bad = tmp_path / "bad.caffemodel"
    bad.write_bytes(b"\x0a\xff\xff\xff")
    with pytest.raises((caffe.CaffeModelError, caffe.EngineError, ValueError)) as info:
        net.copy_from(str(bad))
    assert "bad.caffemodel" in str(info.value)


# --- runtime errors ----------------------------------------------------------------------------

def test_inner_product_wrong_input_size_after_reshape(tmp_path):
    net = caffe.Net(write(tmp_path, INPUT + IP + LOSS), caffe.TRAIN)
    feed(net)
    good = float(net.forward()["loss"])
    net.blobs["x"].reshape(4, 7)
    with pytest.raises(caffe.EngineError) as info:
        net.forward()
    msg = str(info.value)
    assert "'ip'" in msg and "InnerProduct" in msg and "7" in msg and "5" in msg
    assert "net.prototxt:3" in msg
    # the net still works once the input has the right size again
    net.blobs["x"].reshape(4, 5)
    feed(net)
    assert float(net.forward()["loss"]) == pytest.approx(good)


def test_convolution_wrong_channels_after_reshape(tmp_path):
    text = ('layer { name: "input" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 '
            'dim: 5 dim: 5 } } }\nlayer { name: "conv1" type: "Convolution" bottom: "x" '
            'top: "y" convolution_param { num_output: 2 kernel_size: 3 } }\n')
    net = caffe.Net(write(tmp_path, text), caffe.TRAIN)
    net.blobs["x"].reshape(1, 4, 5, 5)
    with pytest.raises(caffe.EngineError) as info:
        net.forward()
    assert "'conv1'" in str(info.value) and "Convolution" in str(info.value)


def test_forward_with_wrong_input_shape(tmp_path):
    net = caffe.Net(write(tmp_path, INPUT + IP + LOSS), caffe.TRAIN)
    with pytest.raises(ValueError):
        net.forward(x=np.zeros((4, 6), F32))
    with pytest.raises(KeyError):
        net.forward(s=np.zeros((4, 3), F32))


@pytest.mark.parametrize("bad", [3, -1, 100, 2.5e9])
def test_labels_out_of_range(tmp_path, bad):
    net = caffe.Net(write(tmp_path, INPUT + IP + LOSS), caffe.TRAIN)
    feed(net, labels=(0, bad, 1, 2))
    with pytest.raises(caffe.EngineError) as info:
        net.forward()
    msg = str(info.value)
    assert "'loss'" in msg and "SoftmaxWithLoss" in msg and "label" in msg
    assert "net.prototxt:5" in msg
    feed(net)
    assert np.isfinite(float(net.forward()["loss"]))


def test_labels_out_of_range_in_solver_step(tmp_path):
    net = write(tmp_path, INPUT + IP + LOSS)
    solver = caffe.get_solver(write(tmp_path, f'net: "{net}"\nbase_lr: 0.1\nlr_policy: "fixed"\n',
                                    "s.prototxt"))
    feed(solver.net, labels=(0, 1, 7, 2))
    with pytest.raises(caffe.EngineError) as info:
        solver.step(1)
    assert "'loss'" in str(info.value)
    assert solver.iter == 0
    feed(solver.net)
    solver.step(1)
    assert solver.iter == 1


TWO_IP = (INPUT +
          'layer { name: "ip1" type: "InnerProduct" bottom: "x" top: "h"\n'
          '  inner_product_param { num_output: 6 weight_filler { type: "gaussian" std: 1 } } }\n'
          'layer { name: "ip2" type: "InnerProduct" bottom: "h" top: "s"\n'
          '  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 1 } } }\n'
          + LOSS)


def test_nan_loss_in_solver_step_names_a_layer(tmp_path):
    net = write(tmp_path, TWO_IP)
    solver = caffe.get_solver(write(
        tmp_path, f'net: "{net}"\nbase_lr: 1e30\nlr_policy: "fixed"\nrandom_seed: 3\n',
        "s.prototxt"))
    feed(solver.net)
    with pytest.raises(caffe.EngineError) as info:
        solver.step(10)
    msg = str(info.value)
    assert "nan" in msg.lower() or "inf" in msg.lower()
    assert "'ip2'" in msg or "'ip1'" in msg or "'loss'" in msg
    assert solver.iter < 10


def test_nan_input_names_the_first_layer_with_a_non_finite_output(tmp_path):
    net = write(tmp_path, TWO_IP)
    solver = caffe.get_solver(write(
        tmp_path, f'net: "{net}"\nbase_lr: 0.1\nlr_policy: "fixed"\n', "s.prototxt"))
    feed(solver.net)
    solver.net.params["ip2"][0].data[...] = 1e30
    solver.net.params["ip1"][0].data[...] = 1e30
    with pytest.raises(caffe.EngineError) as info:
        solver.step(1)
    msg = str(info.value)
    assert "'ip2'" in msg and "InnerProduct" in msg
    assert solver.iter == 0


def test_backward_on_non_output_is_rejected(tmp_path):
    net = caffe.Net(write(tmp_path, INPUT + IP + LOSS), caffe.TRAIN)
    feed(net)
    net.forward()
    with pytest.raises(KeyError):
        net.backward(s=np.ones((4, 3), F32))
    with pytest.raises(ValueError):
        net.backward(loss=np.ones((2,), F32))


def test_bad_solver_settings(tmp_path):
    net = write(tmp_path, INPUT + IP + LOSS)
    cases = [
        ('base_lr: 0.1\nlr_policy: "wobbly"\n', "wobbly"),
        ('base_lr: 0.1\nlr_policy: "step"\nstepsize: 0\n', "stepsize"),
        ('base_lr: 0.1\nlr_policy: "fixed"\ntype: "AdaGradish"\n', "AdaGradish"),
    ]
    for i, (body, word) in enumerate(cases):
        path = write(tmp_path, f'net: "{net}"\n' + body, f"s{i}.prototxt")
        with pytest.raises((caffe.EngineError, caffe.PrototxtError)) as info:
            s = caffe.get_solver(path)
            feed(s.net)
            s.step(1)
        assert word in str(info.value)


# --- errors as data ----------------------------------------------------------------------------

def test_engine_error_carries_the_layer_as_fields(tmp_path):
    text = INPUT + IP.replace('bottom: "x"', 'bottom: "nothing_here"')
    path = write(tmp_path, text)
    with pytest.raises(caffe.EngineError) as info:
        caffe.Net(path, caffe.TRAIN)
    e = info.value
    assert (e.layer, e.layer_type, e.filename, e.line) == ("ip", "InnerProduct", path, 3)
    assert str(e).startswith(f"{path}:3: layer 'ip' (InnerProduct): unknown bottom blob")


def test_runtime_error_fields_and_setup_error_fields(tmp_path):
    net = caffe.Net(write(tmp_path, INPUT + IP + LOSS), caffe.TRAIN)
    feed(net, labels=(0, 9, 1, 2))
    with pytest.raises(caffe.EngineError) as info:
        net.forward()
    assert (info.value.layer, info.value.layer_type, info.value.line) == (
        "loss", "SoftmaxWithLoss", 5)
    path = write(tmp_path, INPUT + 'layer { name: "d" type: "Dropout" bottom: "x" top: "x" '
                                  "dropout_param { dropout_ratio: 1.5 } }\n", "d.prototxt")
    with pytest.raises(caffe.EngineError) as info:
        caffe.Net(path, caffe.TEST)
    assert (info.value.layer, info.value.layer_type, info.value.line) == ("d", "Dropout", 3)


def test_engine_error_without_a_layer_has_none_fields(tmp_path):
    with pytest.raises(caffe.EngineError) as info:
        caffe.set_num_threads(0)
    assert info.value.layer is None and info.value.layer_type is None
    assert info.value.filename is None and info.value.line is None
    assert caffe.EngineError("x").layer is None  # raised from Python: the same attributes
    net = write(tmp_path, INPUT + IP + LOSS)
    solver = write(tmp_path, f'net: "{net}"\nbase_lr: 0.1\nlr_policy: "fixed"\ntest_iter: 1\n'
                             "test_state { phase: TRAIN }\n", "s.prototxt")
    with pytest.raises(caffe.EngineError) as info:  # a solver setting: no layer, the solver file
        caffe.get_solver(solver)
    assert info.value.layer is None and info.value.filename == solver
    assert str(info.value) == f"{solver}: test_state 0 must have phase TEST"


def test_layer_named_in_text_only_is_not_a_layer_error(tmp_path):
    """The layer comes from the fields, never from the text: a message that merely starts like
    a layer error is not located."""
    net = caffe.Net(write(tmp_path, INPUT + IP + LOSS), caffe.TRAIN)
    located = caffe.net.locate_error(caffe.EngineError("layer 'ip' (InnerProduct): x"),
                                     net._message, "net.prototxt")
    assert located.layer is None and located.line is None
    assert str(located) == "net.prototxt: layer 'ip' (InnerProduct): x"


def test_weights_error_names_the_layer_as_fields(tmp_path):
    a = caffe.Net(write(tmp_path, INPUT + IP + LOSS, "a.prototxt"), caffe.TRAIN)
    model = str(tmp_path / "a.caffemodel")
    a.save(model)
    b = caffe.Net(write(tmp_path, INPUT + IP.replace("num_output: 3", "num_output: 4") + LOSS,
                        "b.prototxt"), caffe.TRAIN)
    with pytest.raises(caffe.EngineError) as info:
        b.copy_from(model)
    assert (info.value.layer, info.value.layer_type, info.value.filename) == (
        "ip", "InnerProduct", model)


def test_engine_error_pickles_with_its_fields(tmp_path):
    import pickle
    with pytest.raises(caffe.EngineError) as info:
        caffe.Net(write(tmp_path, INPUT + IP.replace('bottom: "x"', 'bottom: "y"')), caffe.TRAIN)
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.layer, again.layer_type, again.line, str(again)) == (
        "ip", "InnerProduct", 3, str(info.value))


# --- exceptions inside parallel regions -----------------------------------------------------------

@pytest.mark.parametrize("threads", [1, 2, 4])
def test_exception_in_a_parallel_region_surfaces_as_engine_error(threads):
    """An exception thrown by an iteration of ParallelFor (an OpenMP region) is caught there and
    rethrown on the calling thread: an EngineError, not std::terminate. The lowest failing
    iteration's error is the one reported, whatever the threads."""
    before = caffe.num_threads()
    caffe.set_num_threads(threads)
    try:
        for _ in range(20):
            with pytest.raises(caffe.EngineError, match="^iteration 5 of the parallel region"):
                caffe._core._raise_in_parallel_region_for_tests(64, [63, 40, 5])
        # an exception of another type keeps its type (RuntimeError here)
        with pytest.raises(RuntimeError, match="^iteration 7 failed") as info:
            caffe._core._raise_in_parallel_region_for_tests(16, [7, 9], foreign=True)
        assert not isinstance(info.value, caffe.EngineError)
        caffe._core._raise_in_parallel_region_for_tests(64, [])  # the pool still works
    finally:
        caffe.set_num_threads(before)


def test_param_shapes_differing_between_train_and_test_name_the_layer(tmp_path):
    ip_test = IP.replace("num_output: 3", "num_output: 2").replace(
        'top: "s"', 'top: "s" include { phase: TEST }')
    ip_train = IP.replace('top: "s"', 'top: "s" include { phase: TRAIN }')
    net = write(tmp_path, INPUT + ip_train + ip_test + LOSS)
    solver = write(tmp_path, f'net: "{net}"\nbase_lr: 0.1\nlr_policy: "fixed"\ntest_iter: 1\n',
                   "s.prototxt")
    with pytest.raises(caffe.EngineError) as info:
        caffe.get_solver(solver)
    e = info.value
    # the line of a layer named 'ip' (the train and test layers share the name)
    assert (e.layer, e.layer_type, e.filename) == ("ip", "InnerProduct", net) and e.line in (3, 5)
    assert str(e).endswith("layer 'ip' (InnerProduct): param 0 has shape (2, 5) here and "
                           "(3, 5) in the shared net")
