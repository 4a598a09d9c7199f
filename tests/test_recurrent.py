"""RNN, LSTM and LSTMUnit (Caffe's recurrent_layer, rnn_layer, lstm_layer, lstm_unit_layer):
numpy references of the formulas (sequence resets by cont, a static input, exposed hidden
states), the gradient checker, and bad shapes or params giving an error naming the layer."""
import numpy as np
import pytest

import augdrop_caffe as caffe
from gradient_check import GradientChecker, write_net
from test_gradients import gaussian, make_net

F32 = np.float32
T, N, D, DS, H = 4, 3, 5, 2, 3
CONT = np.array([[0, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1]], F32)  # (T, N): resets at 0s


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def recurrent_body(type_, expose=False, static=False, top="y"):
    bottoms = 'bottom: "x" bottom: "cont"' + (' bottom: "xs"' if static else "")
    tops = f'top: "{top}"'
    if expose:
        names = ["h0"] if type_ == "RNN" else ["h0", "c0"]
        bottoms += "".join(f' bottom: "{b}"' for b in names)
        tops += "".join(f' top: "{b}T"' for b in names)
    return (f'layer {{ name: "r" type: "{type_}" {bottoms} {tops} recurrent_param {{ '
            f'num_output: {H} expose_hidden: {"true" if expose else "false"} '
            'weight_filler { type: "uniform" min: -0.5 max: 0.5 } '
            'bias_filler { type: "uniform" min: -0.3 max: 0.3 } } }')


def inputs_for(type_, expose, static):
    shapes = {"x": (T, N, D), "cont": (T, N)}
    if static:
        shapes["xs"] = (N, DS)
    if expose:
        shapes["h0"] = (1, N, H)
        if type_ == "LSTM":
            shapes["c0"] = (1, N, H)
    values = {k: gaussian(s, seed=i) for i, (k, s) in enumerate(shapes.items())}
    values["cont"] = CONT
    return shapes, values


def lstm_ref(p, x, cont, xs=None, h0=None, c0=None):
    Wxc, bc = p[0], p[1]
    Ws = p[2] if xs is not None else None
    Whc = p[-1]
    h = np.zeros((N, H)) if h0 is None else h0[0].astype(np.float64)
    c = np.zeros((N, H)) if c0 is None else c0[0].astype(np.float64)
    out = []
    for t in range(T):
        X = (cont[t][:, None] * h) @ Whc.T + x[t].reshape(N, -1) @ Wxc.T + bc
        if Ws is not None:
            X = X + xs.reshape(N, -1) @ Ws.T
        i, f = sigmoid(X[:, :H]), cont[t][:, None] * sigmoid(X[:, H:2 * H])
        o, g = sigmoid(X[:, 2 * H:3 * H]), np.tanh(X[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out), h, c


def rnn_ref(p, x, cont, xs=None, h0=None):
    Wxh, bh = p[0], p[1]
    Ws = p[2] if xs is not None else None
    Whh, Who, bo = p[-3], p[-2], p[-1]
    h = np.zeros((N, H)) if h0 is None else h0[0].astype(np.float64)
    out = []
    for t in range(T):
        z = (cont[t][:, None] * h) @ Whh.T + x[t].reshape(N, -1) @ Wxh.T + bh
        if Ws is not None:
            z = z + xs.reshape(N, -1) @ Ws.T
        h = np.tanh(z)
        out.append(np.tanh(h @ Who.T + bo))
    return np.stack(out), h


VARIANTS = [(False, False), (True, False), (False, True), (True, True)]


@pytest.mark.parametrize("type_", ["LSTM", "RNN"])
@pytest.mark.parametrize("expose,static", VARIANTS)
def test_recurrent_forward_matches_numpy(tmp_path, type_, expose, static):
    shapes, values = inputs_for(type_, expose, static)
    net = make_net(tmp_path, recurrent_body(type_, expose, static), shapes)
    p = [np.array(b.data, np.float64) for b in net.params["r"]]
    if type_ == "LSTM":
        assert [b.shape for b in p] == [(4 * H, D), (4 * H,)] + [(4 * H, DS)] * static + [(4 * H, H)]
    else:
        assert [b.shape for b in p] == [(H, D), (H,)] + [(H, DS)] * static + [(H, H), (H, H), (H,)]
    for k, v in values.items():
        net.blobs[k].data[...] = v
    out = net.forward()
    xs = values.get("xs")
    if type_ == "LSTM":
        y, hT, cT = lstm_ref(p, values["x"], CONT, xs, values.get("h0"), values.get("c0"))
    else:
        y, hT = rnn_ref(p, values["x"], CONT, xs, values.get("h0"))
    np.testing.assert_allclose(out["y"], y, rtol=1e-5, atol=1e-6)
    if expose:
        np.testing.assert_allclose(out["h0T"], hT[None], rtol=1e-5, atol=1e-6)
        if type_ == "LSTM":
            np.testing.assert_allclose(out["c0T"], cT[None], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("type_", ["LSTM", "RNN"])
@pytest.mark.parametrize("expose,static", VARIANTS)
def test_recurrent_gradient(tmp_path, type_, expose, static):
    shapes, values = inputs_for(type_, expose, static)
    net = make_net(tmp_path, recurrent_body(type_, expose, static), shapes)
    GradientChecker().check(net, values, check_blobs=[k for k in values if k != "cont"])


def test_recurrent_cont_gets_no_gradient_even_with_force_backward(tmp_path):
    shapes, values = inputs_for("LSTM", False, False)
    net = make_net(tmp_path, recurrent_body("LSTM"), shapes)
    for k, v in values.items():
        net.blobs[k].data[...] = v
    net.blobs["cont"].diff[...] = 7
    net.forward()
    net.backward(y=np.ones((T, N, H), F32))
    assert np.all(net.blobs["cont"].diff == 7)  # untouched, as Caffe leaves it
    assert np.any(net.blobs["x"].diff != 0)


def test_lstm_unit_layer(tmp_path):
    n = 4
    body = ('layer { name: "u" type: "LSTMUnit" bottom: "c_prev" bottom: "X" bottom: "cont" '
            'top: "c" top: "h" }')
    shapes = {"c_prev": (1, n, H), "X": (1, n, 4 * H), "cont": (1, n)}
    values = {"c_prev": gaussian((1, n, H), seed=1), "X": gaussian((1, n, 4 * H), seed=2),
              "cont": np.array([[1, 0, 1, 1]], F32)}
    net = make_net(tmp_path, body, shapes)
    for k, v in values.items():
        net.blobs[k].data[...] = v
    out = net.forward()
    X = values["X"][0].astype(np.float64)
    i, f = sigmoid(X[:, :H]), values["cont"][0][:, None] * sigmoid(X[:, H:2 * H])
    o, g = sigmoid(X[:, 2 * H:3 * H]), np.tanh(X[:, 3 * H:])
    c = f * values["c_prev"][0] + i * g
    np.testing.assert_allclose(out["c"][0], c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["h"][0], o * np.tanh(c), rtol=1e-5, atol=1e-6)
    GradientChecker().check(net, values, check_blobs=["c_prev", "X"])


@pytest.mark.parametrize("body,shapes,match", [
    (recurrent_body("LSTM").replace(f"num_output: {H} ", ""), {"x": (T, N, D), "cont": (T, N)},
     "num_output"),
    (recurrent_body("RNN"), {"x": (T, N, D), "cont": (T, N + 1)}, "cont"),
    (recurrent_body("RNN", expose=True), {"x": (T, N, D), "cont": (T, N), "h0": (1, N, H + 1)},
     "hidden"),
    ('layer { name: "r" type: "LSTMUnit" bottom: "a" bottom: "b" bottom: "c" top: "c1" top: "h1" }',
     {"a": (1, 2, 3), "b": (1, 2, 11), "c": (1, 2)}, "4 H"),
])
def test_bad_recurrent_setup_names_the_layer(tmp_path, body, shapes, match):
    with pytest.raises(caffe.EngineError, match=match) as e:
        caffe.Net(write_net(tmp_path, body, shapes), caffe.TRAIN)
    assert "layer 'r'" in str(e.value), str(e.value)
