"""The data root: --data-root, else $AUGDROP_DATA, else a user cache folder."""
import os


def default_cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "augdrop-caffe", "data")


def find_data_root(explicit=None):
    if explicit:
        return os.path.abspath(explicit)
    env = os.environ.get("AUGDROP_DATA")
    if env:
        return os.path.abspath(env)
    return default_cache_root()
