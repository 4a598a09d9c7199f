"""pycaffe's `caffe.proto` package: `caffe_pb2`, Caffe's messages as protobuf classes."""
from . import caffe_pb2

__all__ = ["caffe_pb2"]
