"""`augdrop-caffe data fetch NAME`: download a data set from its public address into the data
root and verify its checksums. Offline, it fails with a clear message and leaves nothing."""
import gzip
import hashlib
import os
import sys
import urllib.error
import urllib.request

from .readers import DataError
from .root import find_data_root

# (url, file under the data root, md5 to check, whether the md5 is of the gunzipped content)
_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
DATASETS = {
    "mnist": [
        (_MNIST + "train-images-idx3-ubyte.gz", "mnist/train-images-idx3-ubyte.gz",
         "6bbc9ace898e44ae57da46a324031adb", True),
        (_MNIST + "train-labels-idx1-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz",
         "a25bea736e30d166cdddb491f175f624", True),
        (_MNIST + "t10k-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz",
         "2646ac647ad5339dbf082846283269ea", True),
        (_MNIST + "t10k-labels-idx1-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz",
         "27ae3e4e09519cfbb04c329615203637", True),
    ],
    "cifar10": [("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                 "cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530", False)],
    "cifar100": [("https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
                  "cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8", False)],
    "svhn": [("http://ufldl.stanford.edu/housenumbers/train_32x32.mat", "svhn/train_32x32.mat",
              "e26dedcc434d2e4c54c9b2d4a06d8373", False),
             ("http://ufldl.stanford.edu/housenumbers/test_32x32.mat", "svhn/test_32x32.mat",
              "eb5a983be6a315427106f1b164d9cef3", False)],
}


def md5_of(path, gunzip=False):
    h = hashlib.md5()
    opener = gzip.open if gunzip else open
    with opener(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(name, data_root=None, timeout=30):
    if name not in DATASETS:
        raise DataError(f"unknown data set '{name}' (known: {', '.join(sorted(DATASETS))})")
    root = find_data_root(data_root)
    for url, rel, md5, gunzip in DATASETS[name]:
        target = os.path.join(root, rel)
        if os.path.isfile(target) and md5_of(target, gunzip) == md5:
            print(f"{target}: present, checksum ok")
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        partial = target + ".part"
        print(f"Downloading {url} -> {target}", file=sys.stderr)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, open(partial, "wb") as f:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
        except (urllib.error.URLError, OSError) as e:
            if os.path.exists(partial):
                os.remove(partial)
            raise DataError(f"cannot download {url} ({getattr(e, 'reason', e)}); this machine "
                            f"may be offline: copy the files into {root} by hand "
                            f"(expected {rel}, MD5 {md5})") from None
        got = md5_of(partial, gunzip)
        if got != md5:
            os.remove(partial)
            raise DataError(f"{url}: MD5 {got}, expected {md5}; the download was discarded")
        os.replace(partial, target)
        print(f"{target}: checksum ok")
    return 0
