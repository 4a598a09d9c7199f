"""Device selection shared by the CLI, the training driver and the sweeps."""
from ._loader import EngineError, _core


def parse_device(spec):
    """'cpu', 'cuda' or 'cuda:N' -> ('cpu', None) or ('cuda', N)."""
    spec = str(spec).strip().lower()
    if spec == "cpu":
        return "cpu", None
    if spec == "cuda" or spec == "gpu":
        return "cuda", 0
    for prefix in ("cuda:", "gpu:"):
        if spec.startswith(prefix) and spec[len(prefix):].isdigit():
            return "cuda", int(spec[len(prefix):])
    raise EngineError(f"unknown device '{spec}' (cpu, cuda or cuda:N)")


def use_device(spec):
    """Run what follows on `spec` ('cpu', 'cuda', 'cuda:N'); returns a description of it."""
    kind, index = parse_device(spec)
    if kind == "cpu":
        _core.set_mode("cpu")
        return "cpu"
    _core.set_device(index)
    _core.set_mode("gpu")  # raises EngineError naming what is missing
    names = _core.backends().get("cuda_device_names", [])
    return f"cuda:{index} ({names[index]})" if index < len(names) else f"cuda:{index}"


def solver_device(param):
    """The device a solver prototxt asks for: solver_mode GPU (with device_id) or CPU."""
    mode = str(param.get("solver_mode", ["CPU"])[-1]).upper()
    return f"cuda:{int(param.get('device_id', [0])[-1])}" if mode == "GPU" else "cpu"
