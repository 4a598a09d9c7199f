"""An opt-in `caffe` alias: `import caffe`, `import caffe.io`, `from caffe.proto import
caffe_pb2` and `from caffe import layers as L` resolve to augdrop_caffe, for pycaffe code that
cannot change its imports (several modules of a project, Python layer modules, Caffe's own
test files).

    python -m augdrop_caffe.alias script.py [args...]    # run a pycaffe script unchanged
    import augdrop_caffe.alias; augdrop_caffe.alias.install()   # then `import caffe`

The wheel ships no package named `caffe`, and install() refuses when a real Caffe is
importable (a `caffe` found on sys.path), so the alias never shadows one silently:
install(force=True) overrides that on purpose.
"""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import runpy
import sys

ALIAS = "caffe"
TARGET = "augdrop_caffe"


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        module = importlib.import_module(self.target)  # the very module: one copy of each
        self.real_spec = module.__spec__
        return module

    def exec_module(self, module):
        # importlib gave the module the alias's spec; its own keeps relative imports right
        module.__spec__ = self.real_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    """caffe[.x.y] -> augdrop_caffe[.x.y]."""

    def find_spec(self, name, path=None, target=None):
        if name != ALIAS and not name.startswith(ALIAS + "."):
            return None
        real = TARGET + name[len(ALIAS):]
        if importlib.util.find_spec(real) is None:
            return None
        return importlib.machinery.ModuleSpec(name, _AliasLoader(real),
                                              is_package=name == ALIAS)


def _real_caffe():
    """Where a real `caffe` would be imported from, or None."""
    if any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        return None
    module = sys.modules.get(ALIAS)
    if module is not None:
        return getattr(module, "__file__", None) or repr(module)
    spec = importlib.util.find_spec(ALIAS)
    return None if spec is None else (spec.origin or str(spec.submodule_search_locations))


def install(force=False):
    """Make `import caffe` give augdrop_caffe. ImportError if a real Caffe is importable,
    unless force=True. Installing twice is harmless."""
    if any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        return
    real = _real_caffe()
    if real is not None and not force:
        raise ImportError(f"a real Caffe is importable ({real}); the augdrop_caffe alias "
                          f"would shadow it. Import augdrop_caffe directly, or call "
                          f"install(force=True) to shadow it on purpose.")
    if force:
        for name in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
            del sys.modules[name]
    sys.meta_path.insert(0, _AliasFinder())


def uninstall():
    """Remove the alias (modules already imported as caffe stay in sys.modules' past)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AliasFinder)]
    for name in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
        if getattr(sys.modules[name], "__name__", "").startswith(TARGET):
            del sys.modules[name]


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m augdrop_caffe.alias SCRIPT.py [ARGS...]\n"
              "Run a pycaffe script unchanged, its `import caffe` answered by augdrop_caffe.")
        return 0 if argv else 2
    install()
    script = argv[0]
    sys.argv = argv
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    # Run as `python -m`, this file is __main__: use the package's own copy of the module,
    # so that the alias installed is the one augdrop_caffe.alias knows.
    from augdrop_caffe.alias import main as _main

    sys.exit(_main())
