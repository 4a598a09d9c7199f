"""Where a run's numbers came from: the facts every summary.json and store record carries, so
that a result can be traced to the code, the numerical recipe and the machine that made it.

Two runs with equal `code` (commit), `engines`, `reduction_slots` and `device` give the same
bits, whatever `threads` and the machine say (thread-independent training); the rest is there
to explain speed and to find the run again.
"""
import os
import platform
import subprocess

from . import __version__, _core


# What decides a build's numbers (the rest of the tree is results, notes and tests).
CODE_PATHS = ("csrc", "python", "CMakeLists.txt", "pyproject.toml", "prototxt")


def _source_commit():
    """The git commit of the source tree this package runs from, where it runs from a
    checkout (an editable install): fresher than the commit the binary was configured at."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        # "+dirty" for changes to the code only: results and notes do not change the numbers
        top = subprocess.run(["git", "-C", here, "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", top, "status", "--porcelain", "--untracked-files=no",
                                "--", *CODE_PATHS], capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas():
    try:
        import scipy_openblas32

        return f"scipy-openblas32 {scipy_openblas32.__version__} (1 thread)"
    except (ImportError, AttributeError):
        return "OpenBLAS (1 thread)"


def layer_engines(net):
    """{layer name: engine} for the layers that have a choice of engine (Convolution)."""
    return {layer.name: layer.engine for layer in net.layers if layer.engine}


def provenance(net=None, device="cpu"):
    """The provenance dict; `net`, where given, adds the engine of each of its layers."""
    build = dict(_core.build_info())
    source = _source_commit()
    out = {
        "version": __version__,
        "commit": source or build["commit"],
        "build_commit": build["commit"],
        "compiler": build["compiler"],
        "simd": build["simd"],
        "threads": _core.num_threads(),
        "reduction_slots": _core.reduction_slots(),
        "blas": blas(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "device": device,
    }
    if net is not None:
        out["engines"] = layer_engines(net)
    return out


def weights_digest(net):
    """SHA-256 of every parameter blob's data, in layer order: equal digests, equal weights."""
    import hashlib

    digest = hashlib.sha256()
    for blobs in net.params.values():
        for blob in blobs:
            digest.update(blob.data.tobytes())
    return digest.hexdigest()


# What must match for a rerun to be expected to give the same bits.
REPRODUCIBILITY_KEYS = ("engines", "reduction_slots", "device")
