"""Address and port allocation: pod IPs (host-local style), ClusterIPs and NodePorts (apiserver style)."""

import ipaddress

from lab.cluster.naming import stable_index


class AllocationError(Exception):
    pass


class PodAddressPool:
    """Pod IPs from a node's pod CIDR: .1 is the cni0 gateway, pods get .2, .3, ... in order."""

    def __init__(self, cidr):
        self.cidr = cidr
        self.gateway = cidr.network_address + 1
        self.used = {self.gateway}

    def reserve(self, ip):
        if ip not in self.cidr or ip in (self.cidr.network_address, self.cidr.broadcast_address):
            raise AllocationError(f"{ip} is not a pod address in {self.cidr}")
        if ip in self.used:
            what = "the node's cni0 gateway" if ip == self.gateway else "already taken"
            raise AllocationError(f"{ip} is {what}")
        self.used.add(ip)

    def allocate(self):
        for ip in self.cidr.hosts():
            if ip not in self.used:
                self.used.add(ip)
                return ip
        raise AllocationError(f"no free address left in {self.cidr}")


def next_after(cidr, used):
    """host-local IPAM on a running node: the next free address after the last one handed out
    (it goes round, rather than reusing the lowest free address at once)."""
    hosts = list(cidr.hosts())[1:]  # .1 is the gateway
    last = max((hosts.index(ip) for ip in used if ip in hosts), default=-1)
    for step in range(1, len(hosts) + 1):
        candidate = hosts[(last + step) % len(hosts)]
        if candidate not in used:
            return candidate
    raise AllocationError(f"no free address left in {cidr}")


class _BandedAllocator:
    """Kubernetes' allocation strategy: a random pick in the upper band first, then the lower band.

    The lower ``offset`` values are kept for static (user-chosen) assignments, as
    kube-apiserver does. The "random" start is a hash of the object's name, so it is stable.
    """

    def __init__(self, first, size, offset):
        self.first, self.size, self.offset = first, size, offset
        self.used = set()

    def _take(self, index):
        if index in self.used:
            raise AllocationError("already allocated")
        self.used.add(index)

    def _allocate(self, seed):
        bands = [(self.offset, self.size), (0, self.offset)]
        for lo, hi in bands:
            if hi <= lo:
                continue
            start = lo + stable_index(seed, hi - lo)
            for step in range(hi - lo):
                index = lo + (start - lo + step) % (hi - lo)
                if index not in self.used:
                    self.used.add(index)
                    return index
        raise AllocationError("range is full")


class ClusterIPAllocator(_BandedAllocator):
    def __init__(self, cidr):
        size = cidr.num_addresses - 2  # no network, no broadcast address
        super().__init__(cidr.network_address + 1, size, 0 if size < 16 else min(max(16, size // 16), 256))
        self.cidr = cidr

    def reserve(self, ip):
        ip = ipaddress.ip_address(ip)
        if ip not in self.cidr or ip in (self.cidr.network_address, self.cidr.broadcast_address):
            raise AllocationError(f'Invalid value: "{ip}": provided IP is not in the valid range. The range of valid '
                                  f"IPs is {self.cidr}")
        try:
            self._take(int(ip) - int(self.first))
        except AllocationError:
            raise AllocationError(f'Invalid value: "{ip}": provided IP is already allocated') from None

    def allocate(self, seed):
        try:
            return self.first + self._allocate(seed)
        except AllocationError:
            raise AllocationError(f"the service CIDR {self.cidr} is full") from None


class NodePortAllocator(_BandedAllocator):
    def __init__(self, lo, hi):
        size = hi - lo + 1
        super().__init__(lo, size, 0 if size < 16 else min(max(16, size // 32), 128))
        self.lo, self.hi = lo, hi

    def reserve(self, port):
        if not self.lo <= port <= self.hi:
            raise AllocationError(f"Invalid value: {port}: provided port is not in the valid range. The range of valid "
                                  f"ports is {self.lo}-{self.hi}")
        try:
            self._take(port - self.lo)
        except AllocationError:
            raise AllocationError(f"Invalid value: {port}: provided port is already allocated") from None

    def allocate(self, seed):
        try:
            return self.lo + self._allocate(seed)
        except AllocationError:
            raise AllocationError(f"the node port range {self.lo}-{self.hi} is full") from None
