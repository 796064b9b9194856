"""The files a scenario is read from, each read once. A lab keeps their texts in its record, so
that every later change rebuilds the cluster from what ``up`` read, not from the disk."""

import os

from lab.errors import InputError
from lab.spec import topo_api, yamlfiles


class Sources:
    """``{absolute path: text}`` of the YAML files read, and the topology dicts of Python
    topologies (which run once). ``Sources(saved)`` serves a saved copy and reads nothing."""

    def __init__(self, saved=None):
        saved = saved or {}
        self._texts = dict(saved.get("files", {}))
        self._topologies = dict(saved.get("topologies", {}))
        self.frozen = bool(saved)

    def text(self, path):
        key = os.path.abspath(path)
        if key not in self._texts:
            if self.frozen:
                raise InputError(path, "", "was not part of the scenario when the lab came up",
                                           "bring the lab up again to read it")
            self._texts[key] = yamlfiles.read_text(path)
        return self._texts[key]

    def documents(self, path):
        return yamlfiles.parse_documents(self.text(path), path)

    def labelled_documents(self, path):
        return yamlfiles.label(self.documents(path), path)

    def single(self, path):
        return yamlfiles.single(self.documents(path), path)

    def python_topology(self, path):
        key = os.path.abspath(path)
        if key not in self._topologies:
            if self.frozen:
                raise InputError(path, "", "was not part of the scenario when the lab came up",
                                           "bring the lab up again to read it")
            self._topologies[key] = topo_api.load(path)
        return self._topologies[key]

    def texts(self):
        """What to save: everything read so far."""
        return {"files": dict(self._texts), "topologies": dict(self._topologies)}
