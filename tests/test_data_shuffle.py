"""data_param.shuffle (an opt-in extension): a new order every epoch, reproducible by seed,
saved and restored with the layer state; without it, Caffe's order and stream use."""
import numpy as np

import augdrop_caffe as caffe
from augdrop_caffe import _core
from augdrop_caffe.textformat import parse_text

from test_transform import register

F32 = np.float32


def shuffled_net(key, batch_size, shuffle=True):
    text = (f'name: "d" layer {{ name: "data" type: "Data" top: "data" top: "label" '
            f'data_param {{ source: "{key}" batch_size: {batch_size} '
            f'{"shuffle: true" if shuffle else ""} }} }}')
    return _core.Net(parse_text(text, "NetParameter").to_dict(), int(caffe.TRAIN), 0, [])


def labels_of(net, batches):
    label = dict(zip(net.blob_names, net.blobs))["label"]
    out = []
    for _ in range(batches):
        net.forward()
        out.append(np.array(label.data))
    return np.concatenate(out).astype(int)


def dataset(n=12):
    images = np.zeros((n, 1, 2, 2), np.uint8)
    return register(images, np.arange(n, dtype=F32))


def test_each_epoch_is_a_new_permutation():
    key = dataset(12)
    caffe.set_random_seed(5)
    seen = labels_of(shuffled_net(key, 4), 9)  # three epochs of 12
    epochs = seen.reshape(3, 12)
    for epoch in epochs:
        assert sorted(epoch) == list(range(12))
    assert not np.array_equal(epochs[0], np.arange(12))
    assert not np.array_equal(epochs[0], epochs[1])


def test_the_order_follows_the_seed():
    key = dataset(12)
    caffe.set_random_seed(5)
    a = labels_of(shuffled_net(key, 4), 6)
    caffe.set_random_seed(5)
    b = labels_of(shuffled_net(key, 4), 6)
    caffe.set_random_seed(6)
    c = labels_of(shuffled_net(key, 4), 6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_shuffle_draws_one_more_word_after_caffes():
    key = dataset(12)
    caffe.set_random_seed(9)
    shuffled_net(key, 4, shuffle=False)
    plain_next = _core.rng_words(1)[0]
    caffe.set_random_seed(9)
    shuffled_net(key, 4, shuffle=True)
    shuffled_next = _core.rng_words(1)[0]
    caffe.set_random_seed(9)
    words = _core.rng_words(3)
    assert plain_next == words[1]  # prefetch-thread seed only (no random transform)
    assert shuffled_next == words[2]


def test_state_round_trip_continues_the_same_order():
    key = dataset(12)
    caffe.set_random_seed(3)
    net = shuffled_net(key, 5)
    labels_of(net, 3)  # into the second epoch
    state = net.layer_state(0)
    expected = labels_of(net, 4)
    caffe.set_random_seed(77)
    other = shuffled_net(key, 5)
    other.set_layer_state(0, state.decode())
    np.testing.assert_array_equal(labels_of(other, 4), expected)


def test_without_shuffle_the_order_is_caffes():
    key = dataset(10)
    caffe.set_random_seed(1)
    np.testing.assert_array_equal(labels_of(shuffled_net(key, 4, shuffle=False), 3),
                                  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
