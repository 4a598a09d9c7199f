"""What the build reports, the mode switches, and what importing costs, on any machine."""
import subprocess
import sys

import pytest

import augdrop_caffe as caffe
from augdrop_caffe.device import parse_device


def test_backends_report():
    b = caffe.backends()
    assert b["cpu"] is True
    assert set(b) >= {"cuda_compiled", "cuda_devices", "cuda_device_names", "gpu_usable"}
    assert b["gpu_usable"] == (b["cuda_devices"] > 0)
    assert len(b["cuda_device_names"]) == b["cuda_devices"]


@pytest.mark.skipif(caffe.backends()["gpu_usable"], reason="a GPU is usable here")
def test_gpu_mode_without_a_gpu_says_what_is_missing():
    with pytest.raises(caffe.EngineError, match="no CUDA backend|no usable CUDA device"):
        caffe.set_mode_gpu()
    assert caffe.mode() == "cpu"


def test_mode_and_mask_source_arguments_are_checked():
    caffe.set_mode_cpu()
    assert caffe.mode() == "cpu"
    with pytest.raises(caffe.EngineError, match="'device' or 'caffe'"):
        caffe.set_gpu_dropout_masks("philox")
    with pytest.raises(caffe.EngineError, match="device id must be >= 0"):
        caffe.set_device(-1)
    with pytest.raises(caffe.EngineError, match="unknown device"):
        parse_device("tpu")
    assert parse_device("cuda:3") == ("cuda", 3) and parse_device("cpu") == ("cpu", None)


def test_import_does_not_load_cublas():
    """cuBLAS is opened on the first GPU GEMM: a CPU run keeps its ~250 MB out of memory."""
    code = ("import augdrop_caffe as c; c.backends(); "
            "print(any('libcublas' in line for line in open('/proc/self/maps')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
