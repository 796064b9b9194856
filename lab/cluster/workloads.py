"""What runs in a pod, decided by its image: the daemon (an agent in lab.agents) that serves it.

``kubia`` answers ``You've hit <pod>`` on every TCP container port (port 8080 when none is
declared), like the luksa/kubia image; it stands in for any image svclab does not know.
``echo`` (an image with "echo" in its name, e.g. svclab/echo) answers the same and adds the
client address it saw. ``coredns`` serves cluster DNS on 53/UDP, 53/TCP and metrics on 9153.
"""

APPS = ("kubia", "echo", "coredns")
MODULES = {"kubia": "lab.agents.web", "echo": "lab.agents.web", "coredns": "lab.agents.coredns"}


def app_for(template):
    images = " ".join(c.image for c in template.containers)
    if "coredns" in images:
        return "coredns"
    return "echo" if "echo" in images else "kubia"


def listen_ports(pod):
    """(port, protocol) pairs the pod's daemon listens on."""
    if pod.app == "coredns":
        return sorted({(p.container_port, p.protocol) for p in pod.ports if p.protocol in ("TCP", "UDP")})
    return [(port, "TCP") for port in pod.serving_ports]
