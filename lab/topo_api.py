"""The import path a topology file written in Python uses: ``from lab.topo_api import Topo``
(the class lives in lab.spec.topo_api, with the loader that reads such files)."""

from lab.spec.topo_api import Topo  # noqa: F401 (the public name)
