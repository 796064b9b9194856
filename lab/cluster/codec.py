"""Tagged JSON for the lab's own data classes (the cluster state saved beside a running lab)."""

import dataclasses
import functools
import ipaddress
import json

from lab.cluster import model


@functools.lru_cache(maxsize=None)
def _classes():
    from lab.spec import manifests  # hand-written slices, in the state of a lab that has them (10 ms to import)
    return {cls.__name__: cls for cls in (
        model.Node, model.Host, model.LoadBalancerHost, model.Frontend, model.Container, model.PodPort, model.Pod,
        model.ServicePort, model.Service, model.Endpoint, model.ClusterState, model.KubeProxyConfig,
        manifests.EndpointSliceSpec, manifests.SliceEndpoint)}


def encode(value):
    if dataclasses.is_dataclass(value):
        out = {"@": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = encode(getattr(value, f.name))
        return out
    if isinstance(value, ipaddress.IPv4Address):
        return {"@ip": str(value)}
    if isinstance(value, ipaddress.IPv4Network):
        return {"@net": str(value)}
    if isinstance(value, tuple):
        return {"@t": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"@d": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    return value


def decode(value):
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "@ip" in value:
        return ipaddress.IPv4Address(value["@ip"])
    if "@net" in value:
        return ipaddress.IPv4Network(value["@net"])
    if "@t" in value:
        return tuple(decode(v) for v in value["@t"])
    if "@d" in value:
        return {decode(k): decode(v) for k, v in value["@d"]}
    cls = _classes()[value["@"]]
    return cls(**{k: decode(v) for k, v in value.items() if k != "@"})


def dumps(value):
    return json.dumps(encode(value), indent=1)


def loads(text):
    return decode(json.loads(text))
