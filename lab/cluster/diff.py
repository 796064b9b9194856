"""What changed between two cluster states, computed once: the pods and services that came and
went, the load-balancer addresses that were assigned or released. Events, the move of a lab
from one state to the next and the load balancer's addresses all read the same ``Changes``. Pure."""

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Changes:
    added_pods: tuple  # Pod, in the new state's order
    removed_pods: tuple  # Pod, in the old state's order
    added_services: tuple  # Service
    removed_services: tuple  # Service
    lb_assigned: tuple  # Service whose load-balancer addresses are new or changed
    added_external_ips: tuple  # addresses the load balancer now holds
    removed_external_ips: tuple  # addresses it no longer holds

    @property
    def added_netns(self):
        return tuple(p.netns for p in self.added_pods)

    @property
    def removed_netns(self):
        return tuple(p.netns for p in self.removed_pods)


def between(old, new):
    old_pods = {p.netns for p in old.pods}
    new_pods = {p.netns for p in new.pods}
    old_svc = {s.key: s for s in old.services}
    new_svc = {s.key: s for s in new.services}
    before, after = set(old.external_ips), set(new.external_ips)
    return Changes(
        added_pods=tuple(p for p in new.pods if p.netns not in old_pods),
        removed_pods=tuple(p for p in old.pods if p.netns not in new_pods),
        added_services=tuple(s for k, s in new_svc.items() if k not in old_svc),
        removed_services=tuple(s for k, s in old_svc.items() if k not in new_svc),
        lb_assigned=tuple(s for k, s in new_svc.items() if s.lb_ips and (k not in old_svc or
                                                                           old_svc[k].lb_ips != s.lb_ips)),
        added_external_ips=tuple(ip for ip in new.external_ips if ip not in before),
        removed_external_ips=tuple(ip for ip in old.external_ips if ip not in after))


def from_nothing(cluster):
    """Everything in ``cluster`` as new (what ``up`` records)."""
    return between(dataclasses.replace(cluster, pods=(), services=()), cluster)
