"""BVLC Caffe's examples/01-learning-lenet.ipynb as a pycaffe script (its steps, scaled down:
the shipped 2,000-image MNIST sample in LMDBs written with caffe.io, a few iterations), run
unchanged through `python -m augdrop_caffe.alias`: net_spec with an LMDB Data layer, the
solver from a prototxt naming train_net/test_net, forward from 'conv1', step(1) in a loop."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("google.protobuf")
lmdb = pytest.importorskip("lmdb")

from augdrop_caffe import io as cio  # noqa: E402
from augdrop_caffe.data.readers import read_mnist  # noqa: E402
from augdrop_caffe.data.sources import SAMPLE_DIR  # noqa: E402

SCRIPT = textwrap.dedent('''
    import json
    import numpy as np
    import caffe
    from caffe import layers as L, params as P

    def lenet(lmdb, batch_size):
        n = caffe.NetSpec()
        n.data, n.label = L.Data(batch_size=batch_size, backend=P.Data.LMDB, source=lmdb,
                                 transform_param=dict(scale=1./255), ntop=2)
        n.conv1 = L.Convolution(n.data, kernel_size=5, num_output=20,
                                weight_filler=dict(type='xavier'))
        n.pool1 = L.Pooling(n.conv1, kernel_size=2, stride=2, pool=P.Pooling.MAX)
        n.conv2 = L.Convolution(n.pool1, kernel_size=5, num_output=50,
                                weight_filler=dict(type='xavier'))
        n.pool2 = L.Pooling(n.conv2, kernel_size=2, stride=2, pool=P.Pooling.MAX)
        n.fc1 = L.InnerProduct(n.pool2, num_output=500, weight_filler=dict(type='xavier'))
        n.relu1 = L.ReLU(n.fc1, in_place=True)
        n.score = L.InnerProduct(n.relu1, num_output=10, weight_filler=dict(type='xavier'))
        n.loss = L.SoftmaxWithLoss(n.score, n.label)
        return n.to_proto()

    with open('mnist/lenet_auto_train.prototxt', 'w') as f:
        f.write(str(lenet('mnist/mnist_train_lmdb', 64)))
    with open('mnist/lenet_auto_test.prototxt', 'w') as f:
        f.write(str(lenet('mnist/mnist_test_lmdb', 100)))
    with open('mnist/lenet_auto_solver.prototxt', 'w') as f:
        f.write("""train_net: "mnist/lenet_auto_train.prototxt"
    test_net: "mnist/lenet_auto_test.prototxt"
    test_iter: 2
    test_interval: 500
    base_lr: 0.01
    momentum: 0.9
    weight_decay: 0.0005
    lr_policy: "inv"
    gamma: 0.0001
    power: 0.75
    display: 100
    max_iter: 10000
    snapshot: 5000
    snapshot_prefix: "mnist/lenet"
    """)

    caffe.set_mode_cpu()
    caffe.set_random_seed(1)
    solver = caffe.SGDSolver('mnist/lenet_auto_solver.prototxt')
    shapes = [(k, v.data.shape) for k, v in solver.net.blobs.items()]
    weights = [(k, v[0].data.shape) for k, v in solver.net.params.items()]
    solver.net.forward()
    solver.test_nets[0].forward()
    first_labels = solver.test_nets[0].blobs['label'].data[:8].tolist()
    solver.step(1)
    conv1_grad = float(np.abs(solver.net.params['conv1'][0].diff).sum())

    niter, test_interval = 30, 10
    train_loss = np.zeros(niter)
    test_acc = []
    same_batch = True
    for it in range(niter):
        solver.step(1)
        train_loss[it] = solver.net.blobs['loss'].data
        before = solver.test_nets[0].blobs['data'].data.copy()
        solver.test_nets[0].forward(start='conv1')  # the same test batch, no new data
        same_batch &= bool((solver.test_nets[0].blobs['data'].data == before).all())
        if it % test_interval == 0 or it == niter - 1:
            correct = 0
            for test_it in range(2):
                solver.test_nets[0].forward()
                correct += sum(solver.test_nets[0].blobs['score'].data.argmax(1)
                               == solver.test_nets[0].blobs['label'].data)
            test_acc.append(correct / 200.)
    print(json.dumps(dict(shapes=shapes, weights=weights, first_labels=first_labels,
                          conv1_grad=conv1_grad, loss=train_loss.tolist(), acc=test_acc,
                          same_batch=same_batch, iter=solver.iter)))
''')


def _write_lmdb(path, images, labels):
    env = lmdb.open(str(path), map_size=1 << 28)
    with env.begin(write=True) as txn:
        for i, (image, label) in enumerate(zip(images, labels)):
            txn.put(b"%08d" % i, cio.array_to_datum(image, int(label)).SerializeToString())
    env.close()


def test_learning_lenet_notebook_runs_unchanged(tmp_path):
    (tmp_path / "mnist").mkdir()
    first = {}
    for split, prefix, n in (("train", "train", 1000), ("test", "t10k", 200)):
        images, labels = read_mnist(os.path.join(SAMPLE_DIR, f"{prefix}-images-idx3-ubyte.gz"),
                                    os.path.join(SAMPLE_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
        _write_lmdb(tmp_path / "mnist" / f"mnist_{split}_lmdb", images[:n], labels[:n])
        first[split] = [float(v) for v in labels[:8]]
    (tmp_path / "notebook.py").write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-m", "augdrop_caffe.alias", "notebook.py"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["shapes"][0] == ["data", [64, 1, 28, 28]]
    assert dict((k, v) for k, v in r["weights"])["fc1"] == [500, 800]
    assert r["first_labels"] == first["test"]  # the LMDB's records, in key order
    assert r["conv1_grad"] > 0 and r["iter"] == 31 and r["same_batch"]
    loss = np.array(r["loss"])
    assert loss[-10:].mean() < loss[:5].mean() < 2.5  # it learns
    assert r["acc"][-1] > 0.5  # well above chance after 31 iterations
