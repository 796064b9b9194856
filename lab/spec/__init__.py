"""spec: files -> a validated Scenario. Reads scenario, topology (YAML or a Mininet-style Python
``Topo``), manifest and KubeProxyConfiguration files; every value keeps its file and field path,
so each error names the file, the field and the fix.

Pure. May import: lab.errors.
"""
