"""caffe.net_spec and caffe.coord_map: the behaviours of BVLC Caffe's test_net_spec.py and
test_coord_map.py, on nets this build can run (Input-fed instead of DummyData)."""
import random

import numpy as np
import pytest

pytest.importorskip("google.protobuf")

import augdrop_caffe as caffe  # noqa: E402
from augdrop_caffe import layers as L, params as P  # noqa: E402
from augdrop_caffe.coord_map import coord_map_from_to, crop  # noqa: E402


def lenet(batch, named=True):
    n = caffe.NetSpec()
    data, label = L.Input(shape=[dict(dim=[batch, 1, 28, 28]), dict(dim=[batch])], ntop=2)
    conv1 = L.Convolution(data, kernel_size=5, num_output=20, weight_filler=dict(type="xavier"))
    pool1 = L.Pooling(conv1, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    conv2 = L.Convolution(pool1, kernel_size=5, num_output=50, weight_filler=dict(type="xavier"))
    pool2 = L.Pooling(conv2, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    ip1 = L.InnerProduct(pool2, num_output=500, weight_filler=dict(type="xavier"))
    relu1 = L.ReLU(ip1, in_place=True)
    ip2 = L.InnerProduct(relu1, num_output=10, weight_filler=dict(type="xavier"))
    loss = L.SoftmaxWithLoss(ip2, label)
    if not named:
        return loss.to_proto()
    n.data, n.label, n.conv1, n.pool1, n.conv2, n.pool2 = data, label, conv1, pool1, conv2, pool2
    n.ip1, n.relu1, n.ip2, n.loss = ip1, relu1, ip2, loss
    return n.to_proto()


def test_named_lenet_builds_and_runs(tmp_path):
    proto = lenet(4)
    names = [l.name for l in proto.layer]
    assert names == ["data", "conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "loss"]
    assert proto.layer[6].bottom == proto.layer[6].top == ["ip1"]  # in place
    assert proto.layer[1].convolution_param.num_output == 20
    assert proto.layer[1].convolution_param.kernel_size == [5]  # a lone value, repeated field
    assert proto.layer[2].pooling_param.pool == caffe.proto.caffe_pb2.PoolingParameter.MAX
    # str() is the prototxt, as pycaffe scripts write it to a file
    path = tmp_path / "lenet.prototxt"
    path.write_text(str(proto))
    net = caffe.Net(str(path), caffe.TRAIN)
    assert len(net.layers) == 9
    net.blobs["label"].data[...] = [1, 2, 3, 4]
    assert np.isfinite(float(net.forward()["loss"]))


def test_anonymous_lenet_gets_type_numbered_names():
    proto = lenet(4, named=False)
    assert [l.name for l in proto.layer][:4] == ["Input1", "Convolution1", "Pooling1",
                                                 "Convolution2"]
    assert list(proto.layer[0].top) == ["Input1", "Input2"]
    assert proto.layer[6].bottom == proto.layer[6].top
    assert len(caffe.Net(proto, caffe.TEST).layers) == 9


def test_layer_and_param_keywords_go_where_they_belong():
    n = caffe.NetSpec()
    n.x = L.Input(shape=dict(dim=[2, 3]))
    n.y = L.InnerProduct(n.x, num_output=4, param=[dict(lr_mult=1), dict(lr_mult=2)],
                         loss_weight=0.5, include=dict(phase=caffe.TEST),
                         bias_filler=dict(type="constant", value=1))
    n.z = L.Deconvolution(n.x, num_output=2, kernel_size=2)
    n.d = L.AugmentedDropout(n.y, forward_ratio=0.3, in_place=True)
    layer = n.to_proto().layer[1]
    assert [p.lr_mult for p in layer.param] == [1, 2]
    assert list(layer.loss_weight) == [0.5] and layer.include[0].phase == caffe.TEST
    assert layer.inner_product_param.bias_filler.value == 1
    deconv = n.to_proto().layer[2]
    assert deconv.convolution_param.num_output == 2
    drop = n.to_proto().layer[3]
    assert drop.augmented_dropout_param.forward_ratio == pytest.approx(0.3)


def test_zero_tops():
    n = caffe.NetSpec()
    n.data, n.data2 = L.Input(shape=[dict(dim=[3]), dict(dim=[3])], ntop=2)
    n.silence = L.ReLU(n.data, ntop=0)  # any top-less call returns its Function
    proto = n.to_proto()
    assert proto.layer[1].name == "silence" and not proto.layer[1].top


def test_type_error_for_non_top_inputs():
    data = L.Input(ntop=2)
    with pytest.raises(TypeError, match=r"^Silence input 0 is not a Top \(type is <class "
                                        r"'tuple'>\)$"):
        L.Silence(data, ntop=0)
    L.Silence(*data, ntop=0)


def test_netspec_items_and_missing_names():
    n = caffe.NetSpec()
    n["a"] = L.Input(shape=dict(dim=[1]))
    assert n.a is n["a"] and "a" in n
    with pytest.raises(AttributeError):
        n.b


def coord_net(ks=3, stride=1, pad=0, pool=2, dstride=2, dpad=0):
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[2, 1, 100, 100]))
    n.aux = L.Input(shape=dict(dim=[2, 1, 20, 20]))
    n.conv = L.Convolution(n.data, num_output=10, kernel_size=ks, stride=stride, pad=pad)
    n.pool = L.Pooling(n.conv, pool=P.Pooling.MAX, kernel_size=pool, stride=pool, pad=0)
    deconv_ks = [2 * s for s in dstride] if isinstance(dstride, list) else 2 * dstride
    n.deconv = L.Deconvolution(n.pool, num_output=10, kernel_size=deconv_ks, stride=dstride,
                               pad=dpad)
    return n


def test_conv_pool_deconv_maps():
    n = coord_net()
    assert coord_map_from_to(n.deconv, n.data) == (1, 1, 0)
    n = coord_net(pool=4, dstride=4)
    assert coord_map_from_to(n.deconv, n.data) == (1, 1, -1)


def test_pass_through_and_1x1_are_identities():
    n = coord_net()
    base = coord_map_from_to(n.deconv, n.data)
    n.relu = L.ReLU(n.deconv)
    n.conv1x1 = L.Convolution(n.relu, num_output=10, kernel_size=1, stride=1, pad=0)
    for top in (n.relu, n.conv1x1):
        assert coord_map_from_to(top, n.data) == base


def test_padding_shifts():
    base = coord_net()
    _, a, b = coord_map_from_to(base.deconv, base.data)
    pad = random.Random(0).randint(1, 10)
    for kwargs, shift in (({"pad": pad}, -pad), ({"dpad": pad}, pad),
                          ({"pad": pad, "dpad": pad}, 0)):
        n = coord_net(**kwargs)
        _, a2, b2 = coord_map_from_to(n.deconv, n.data)
        assert a2 == a and b2 == b + shift


def test_rectangular_maps_are_their_parts():
    n3, n5 = coord_net(ks=3, stride=1, pad=0), coord_net(ks=5, stride=2, pad=10)
    n35 = coord_net(ks=[3, 5], stride=[1, 2], pad=[0, 10])
    ax3, a3, b3 = coord_map_from_to(n3.deconv, n3.data)
    ax5, a5, b5 = coord_map_from_to(n5.deconv, n5.data)
    ax35, a35, b35 = coord_map_from_to(n35.deconv, n35.data)
    assert ax3 == ax5 == ax35
    assert (a3, b3, a5, b5) == (a35[0], b35[0], a35[1], b35[1])


def test_crop_maps_and_helper():
    n = coord_net()
    ax, a, b = coord_map_from_to(n.deconv, n.data)
    n.crop = L.Crop(n.deconv, n.data, axis=2, offset=3)
    assert coord_map_from_to(n.crop, n.data) == (ax, a, b + 3)
    top = crop(n.deconv, n.data)
    layer = top.to_proto().layer[-1]
    assert layer.type == "Crop" and layer.crop_param.axis == 2
    assert list(layer.crop_param.offset) == [0]


def test_unmappable_and_impossible_crops():
    n = coord_net()
    n.ip = L.InnerProduct(n.deconv, num_output=10)
    with pytest.raises(RuntimeError):
        coord_map_from_to(n.ip, n.data)
    n = coord_net(pool=3, dstride=2)
    with pytest.raises(AssertionError, match="scale"):
        crop(n.deconv, n.data)
    n = coord_net(dpad=10)
    with pytest.raises(AssertionError, match="negative"):
        crop(n.deconv, n.data)
