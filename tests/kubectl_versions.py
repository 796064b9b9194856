"""The kubectl binaries the lab tests run against a lab's API server, and a runner for them.

Two versions, as pytest parameters (``VERSIONS``), resolved lazily by ``binary``:

- ``current``: the ``kubectl`` on PATH, whatever it is (on the project machine a dispatcher that runs
  kubectl 1.27-1.33 by the server's reported version; on a fresh machine ``./setup`` installs
  Debian's kubernetes-client, 1.20, when there is none);
- ``1.20``: Debian 12's ``kubernetes-client`` (kubectl v1.20, the seed's era), never installed (that
  would replace the ``kubectl`` on PATH) but fetched with ``apt-get download`` and unpacked with
  ``dpkg -x`` into ``CACHE`` (``/var/cache/svclab/kubectl-1.20``, or ``$SVCLAB_KUBECTL_CACHE``), once.

Either is skipped, with the reason, when it cannot be had; ``1.20`` also when the kubectl on PATH is
1.20 already (``current`` then tests it).
"""

import fcntl
import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

VERSIONS = ("current", "1.20")
CACHE = Path(os.environ.get("SVCLAB_KUBECTL_CACHE", "/var/cache/svclab"))
PACKAGE = "kubernetes-client"
UNPACKED = "kubectl-1.20"  # CACHE/UNPACKED/usr/bin/kubectl
TIMEOUT = 30  # seconds, for any one kubectl command


class Unavailable(Exception):
    """This kubectl cannot be had here; the message says why (the test's skip reason)."""


def client_version(path):
    """The client's own version, ``v1.20.2``, or None when it does not say."""
    try:
        out = subprocess.run([str(path), "version", "--client"], capture_output=True, text=True,
                             timeout=TIMEOUT).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'GitVersion:"(v[^"]+)"', out) or re.search(r"Client Version: (v\S+)", out)
    return m.group(1) if m else None


def _fetch_120(target):
    """Debian's kubernetes-client unpacked into ``target`` (a new directory); its kubectl."""
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        raise Unavailable(f"kubectl 1.20 comes from Debian's {PACKAGE}: needs apt-get and dpkg")
    with tempfile.TemporaryDirectory(prefix="svclab-kubectl-") as scratch:
        try:
            got = subprocess.run(["apt-get", "download", "-q", PACKAGE], cwd=scratch, capture_output=True,
                                 text=True, timeout=300)
        except subprocess.TimeoutExpired:
            raise Unavailable(f"apt-get download {PACKAGE} took over 300 s") from None
        debs = list(Path(scratch).glob(f"{PACKAGE}_*.deb"))
        if got.returncode != 0 or not debs:
            problem = (got.stderr.strip().splitlines() or ["no .deb"])[-1]
            raise Unavailable(f"apt-get download {PACKAGE} failed ({problem}); after apt-get update it may work")
        staging = Path(tempfile.mkdtemp(prefix=f"{UNPACKED}.", dir=target.parent))
        try:
            subprocess.run(["dpkg", "-x", str(debs[0]), str(staging)], check=True, capture_output=True, timeout=120)
            os.rename(staging, target)  # whole or not at all
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise Unavailable(f"dpkg -x {debs[0].name} failed: {exc}") from None
    return target / "usr" / "bin" / "kubectl"


def _kubectl_120():
    on_path = shutil.which("kubectl")
    if on_path and (client_version(on_path) or "").startswith("v1.20."):
        raise Unavailable("the kubectl on PATH is 1.20 already: the 'current' runs test it")
    target = CACHE / UNPACKED
    kubectl = target / "usr" / "bin" / "kubectl"
    if not kubectl.exists():
        try:
            CACHE.mkdir(parents=True, exist_ok=True)
            with open(CACHE / f"{UNPACKED}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one test run fetches, the others wait for it
                if not kubectl.exists():
                    kubectl = _fetch_120(target)
        except OSError as exc:
            raise Unavailable(f"cannot unpack kubectl 1.20 into {CACHE}: {exc}") from None
    version = client_version(kubectl)
    if not (version or "").startswith("v1.20."):
        raise Unavailable(f"{kubectl} reports {version or 'no version'}, not v1.20")
    return str(kubectl)


@functools.lru_cache(maxsize=None)
def _resolve(version):
    """(path, None) or (None, why not): looked up once per test run."""
    try:
        if version == "current":
            found = shutil.which("kubectl")
            if found is None:
                raise Unavailable("no kubectl on PATH (./setup installs Debian's kubernetes-client)")
            return found, None
        return _kubectl_120(), None
    except Unavailable as exc:
        return None, str(exc)


def binary(version):
    """The kubectl of ``version`` (one of VERSIONS), or the test is skipped with the reason."""
    path, why = _resolve(version)
    if path is None:
        pytest.skip(f"kubectl {version}: {why}")
    return path


class Kubectl:
    """One kubectl binary pointed at one kubeconfig, with its own discovery cache."""

    def __init__(self, path, version, kubeconfig, cache_dir):
        self.path, self.version, self.kubeconfig, self.cache_dir = path, version, kubeconfig, str(cache_dir)

    def command(self, *args):
        return [self.path, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache_dir}", *args]

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env.update(extra)
        return env

    def run(self, *args, check=True, timeout=TIMEOUT, input=None, env=None):
        """The CompletedProcess of ``kubectl ARGS``; an AssertionError with its output when it fails
        and ``check``."""
        result = subprocess.run(self.command(*args), capture_output=True, text=True, timeout=timeout, input=input,
                                env=self.env(**(env or {})))
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} ({self.version}) exited {result.returncode}\n"
                                 f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def __call__(self, *args, **kw):
        """stdout of ``kubectl ARGS`` (it must succeed)."""
        return self.run(*args, **kw).stdout

    def popen(self, *args):
        """``kubectl ARGS`` left running (a watch): the caller stops it."""
        return subprocess.Popen(self.command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env())
