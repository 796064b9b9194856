"""images: what a pod's image stands for, since images are never pulled or run: the commands of
containers whose image svclab does not serve (run inside the pod's namespaces, recorded, killed
with the pod), and the small toolset an image puts first on PATH for commands run in its pods
(busybox: its ``sh`` and the old busybox ``nslookup`` the seed prints).

Edge. May import: lab.errors, lab.spec, lab.cluster, lab.kernel.
"""
