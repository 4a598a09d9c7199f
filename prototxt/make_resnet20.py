"""Writes the ResNet-20 prototxts of Tables 2 and 5 (PAPER.md) into this folder:

    python prototxt/make_resnet20.py

Three groups of three residual units of 16, 32 and 64 channels; each unit is
Conv-BN-ReLU-Dropout-Conv-BN, plus the shortcut (a 1x1 stride-2 projection where the size
changes), then ReLU; global average pooling and one InnerProduct. BN is Caffe's BatchNorm
(statistics, not learned) followed by Scale (learned factor and bias). Augmentation as the
paper: pad 4, random 32x32 crop, random mirror for CIFAR; none for SVHN.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = {  # name: (classes, test_iter with batch 100, augment)
    "cifar10": (10, 100, True),
    "cifar100": (100, 100, True),
    "svhn": (10, 261, False),
}


def conv(name, bottom, n, k, stride, pad):
    return f'''layer {{
  name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}"
  param {{ lr_mult: 1 decay_mult: 1 }}
  convolution_param {{ num_output: {n} kernel_size: {k} stride: {stride} pad: {pad} bias_term: false
                       weight_filler {{ type: "msra" }} }}
}}
'''


def bn(name, blob):
    # No param specs: BatchNorm masks its statistics from the solver itself (lr_mult 0), as
    # Caffe's does; three specs are the old form, which Caffe upgrades with a message.
    return f'''layer {{
  name: "{name}_bn" type: "BatchNorm" bottom: "{blob}" top: "{blob}"
}}
layer {{
  name: "{name}_scale" type: "Scale" bottom: "{blob}" top: "{blob}"
  param {{ lr_mult: 1 decay_mult: 0 }} param {{ lr_mult: 1 decay_mult: 0 }}
  scale_param {{ bias_term: true }}
}}
'''


def relu(name, blob):
    return f'layer {{ name: "{name}" type: "ReLU" bottom: "{blob}" top: "{blob}" }}\n'


def dropout(name, blob):
    return (f'layer {{ name: "{name}" type: "AugmentedDropout" bottom: "{blob}" top: "{blob}"\n'
            f'        augmented_dropout_param {{ variant: AUGMENTED forward_ratio: 0.1 '
            f'backward_ratio: 0.0001 }} }}\n')


def unit(name, bottom, n, stride):
    text = conv(f"{name}_conv1", bottom, n, 3, stride, 1) + bn(f"{name}_conv1", f"{name}_conv1")
    text += relu(f"{name}_relu1", f"{name}_conv1") + dropout(f"{name}_drop", f"{name}_conv1")
    text += conv(f"{name}_conv2", f"{name}_conv1", n, 3, 1, 1) + bn(f"{name}_conv2", f"{name}_conv2")
    shortcut = bottom
    if stride != 1:
        shortcut = f"{name}_proj"
        text += conv(shortcut, bottom, n, 1, stride, 0) + bn(shortcut, shortcut)
    text += (f'layer {{ name: "{name}_sum" type: "Eltwise" bottom: "{name}_conv2" '
             f'bottom: "{shortcut}" top: "{name}" eltwise_param {{ operation: SUM }} }}\n')
    return text + relu(f"{name}_relu", name)


def data(dataset, phase, split, batch, augment):
    aug = " pad: 4 crop_size: 32 mirror: true" if augment and phase == "TRAIN" else ""
    return f'''layer {{
  name: "{dataset}" type: "Data" top: "data" top: "label" include {{ phase: {phase} }}
  transform_param {{ mean_file: "{dataset}:train"{aug} }}
  data_param {{ source: "{dataset}:{split}" batch_size: {batch} }}
}}
'''


def net(dataset):
    classes, _, augment = DATASETS[dataset]
    text = (f'# ResNet-20 on {dataset} for Tables 2 and 5 of "Demystifying Dropout" (ICML 2019).\n'
            f"# Written by make_resnet20.py; dropout between the two convolutions of each unit.\n"
            f'name: "ResNet20_{dataset}"\n')
    text += data(dataset, "TRAIN", "train", 128, augment) + data(dataset, "TEST", "test", 100, False)
    text += conv("conv1", "data", 16, 3, 1, 1) + bn("conv1", "conv1") + relu("relu1", "conv1")
    bottom = "conv1"
    for g, n in enumerate((16, 32, 64), 1):
        for u in range(1, 4):
            name = f"res{g}_{u}"
            text += unit(name, bottom, n, 2 if (g > 1 and u == 1) else 1)
            bottom = name
    text += (f'layer {{ name: "pool" type: "Pooling" bottom: "{bottom}" top: "pool" '
             f'pooling_param {{ pool: AVE global_pooling: true }} }}\n')
    text += f'''layer {{
  name: "fc" type: "InnerProduct" bottom: "pool" top: "fc"
  param {{ lr_mult: 1 decay_mult: 1 }} param {{ lr_mult: 2 decay_mult: 0 }}
  inner_product_param {{ num_output: {classes} weight_filler {{ type: "msra" }} bias_filler {{ type: "constant" }} }}
}}
layer {{ name: "accuracy" type: "Accuracy" bottom: "fc" bottom: "label" top: "accuracy" include {{ phase: TEST }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }}
'''
    return text


def solver(dataset):
    _, test_iter, _ = DATASETS[dataset]
    return f'''# The paper's ResNet-20 setting (Tables 2 and 5): batch 128, Nesterov momentum 0.9, weight
# decay 0.001, lr 0.1 times 0.1 at 320,000 and 480,000 iterations, 640,000 in all (as printed;
# the usual ResNet-20 schedule is ten times shorter). GPU-scale work.
net: "resnet20_{dataset}_train_test.prototxt"
test_iter: {test_iter}
test_interval: 10000
base_lr: 0.1
momentum: 0.9
weight_decay: 0.001
type: "Nesterov"
lr_policy: "multistep"
gamma: 0.1
stepvalue: 320000
stepvalue: 480000
display: 1000
max_iter: 640000
snapshot: 50000
snapshot_prefix: "resnet20_{dataset}"
random_seed: 1
solver_mode: CPU
'''


if __name__ == "__main__":
    for dataset in DATASETS:
        with open(os.path.join(HERE, f"resnet20_{dataset}_train_test.prototxt"), "w") as f:
            f.write(net(dataset))
        with open(os.path.join(HERE, f"resnet20_{dataset}_solver.prototxt"), "w") as f:
            f.write(solver(dataset))
