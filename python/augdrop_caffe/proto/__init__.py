"""pycaffe's `caffe.proto` package: `caffe_pb2`, Caffe's messages as protobuf classes."""
