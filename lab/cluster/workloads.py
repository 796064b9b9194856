"""What runs in a pod, decided by its image: the daemon (an agent in lab.agents) that serves it,
or, for an image svclab does not serve, only the commands its containers' specs give.

Images are not pulled or run: only their names are kept. Three are served:
``kubia`` (an image with "kubia" in its name, luksa/kubia) answers ``You've hit <pod>`` on every
TCP container port (port 8080 when none is declared); ``echo`` (an image with "echo" in its name,
e.g. svclab/echo) answers the same and adds the client address it saw; ``coredns`` serves cluster
DNS on 53/UDP, 53/TCP and metrics on 9153. Any other image (busybox, nginx, ...) gives a pod with
no server: its containers run their ``command``/``args`` if the spec gives them, else nothing.
"""

APPS = ("kubia", "echo", "coredns")
MODULES = {"kubia": "lab.agents.web", "echo": "lab.agents.web", "coredns": "lab.agents.coredns"}


def app_of_image(image):
    """The app serving ``image``, or None for an image svclab does not serve."""
    name = image.rsplit("@", 1)[0]
    for app in ("coredns", "echo", "kubia"):
        if app in name:
            return app
    return None


def app_for(template):
    """The pod's server: the first served image among its containers (coredns, then echo, then
    kubia), or None when none of its images is served."""
    apps = {app_of_image(c.image) for c in template.containers}
    return next((app for app in ("coredns", "echo", "kubia") if app in apps), None)


def commands(pod):
    """``[(container name, argv)]``: what the pod's unserved containers run (those with a command)."""
    return [(c.name, c.argv) for c in pod.containers if app_of_image(c.image) is None and c.argv]


def listen_ports(pod):
    """(port, protocol) pairs the pod's daemon listens on."""
    if pod.app == "coredns":
        return sorted({(p.container_port, p.protocol) for p in pod.ports if p.protocol in ("TCP", "UDP")})
    return [(port, "TCP") for port in pod.serving_ports]
