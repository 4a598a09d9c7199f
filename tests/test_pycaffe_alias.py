"""The opt-in `caffe` alias: pycaffe imports resolve to augdrop_caffe's very modules, a real
Caffe is never shadowed silently, and `python -m augdrop_caffe.alias` runs a script
unchanged."""
import subprocess
import sys
import textwrap

import pytest

import augdrop_caffe
from augdrop_caffe import alias


@pytest.fixture
def clean_alias():
    alias.uninstall()
    yield
    alias.uninstall()


def test_imports_resolve_to_the_same_modules(clean_alias):
    pytest.importorskip("google.protobuf")
    alias.install()
    import caffe
    import caffe.io
    from caffe import layers as L  # noqa: F401
    from caffe.proto import caffe_pb2

    import augdrop_caffe.io
    from augdrop_caffe.proto import caffe_pb2 as ours
    assert caffe is augdrop_caffe and caffe.io is augdrop_caffe.io and caffe_pb2 is ours
    assert augdrop_caffe.__spec__.name == "augdrop_caffe"  # its own spec kept
    alias.install()  # twice is harmless


def test_a_real_caffe_is_not_shadowed(clean_alias, tmp_path, monkeypatch):
    (tmp_path / "caffe").mkdir()
    (tmp_path / "caffe" / "__init__.py").write_text("REAL = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="real Caffe is importable"):
        alias.install()
    alias.install(force=True)
    import caffe
    assert caffe is augdrop_caffe


def test_run_a_script_unchanged(tmp_path):
    script = tmp_path / "pycaffe_script.py"
    script.write_text(textwrap.dedent("""
        import sys
        import caffe
        caffe.set_mode_cpu()
        print("types", "InnerProduct" in caffe.layer_type_list(), sys.argv[1:])
    """))
    out = subprocess.run([sys.executable, "-m", "augdrop_caffe.alias", str(script), "x"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "types True ['x']"
