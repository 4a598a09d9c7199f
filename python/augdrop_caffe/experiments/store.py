"""The results store: one JSON record per finished (or failed) run, named by the run's key.

A record is written whole to a temporary file and renamed into place, so a killed sweep
leaves either a complete record or none, and a run is never recorded twice.
"""
import json
import os


class ResultStore:
    def __init__(self, folder):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)

    def path(self, key):
        return os.path.join(self.folder, key + ".json")

    def get(self, key):
        try:
            with open(self.path(key)) as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except json.JSONDecodeError as e:
            raise ValueError(f"{self.path(key)}: not a valid record ({e})") from None

    def put(self, key, record):
        tmp = self.path(key) + f".tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(record, f, indent=1)
        os.replace(tmp, self.path(key))

    def records(self):
        out = {}
        for name in sorted(os.listdir(self.folder)):
            if name.endswith(".json"):
                out[name[:-5]] = self.get(name[:-5])
        return out
