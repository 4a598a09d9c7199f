"""Data sets: where they live, how their files are read, how a Data layer names them."""
from .root import find_data_root
from .sources import DataError, load_source, prepare_net_data

__all__ = ["DataError", "find_data_root", "load_source", "prepare_net_data"]
