"""What the page shows at one moment, as plain data (the server sends it as JSON). Pure.

The picture is ``lab diagram``'s scene (lab.classroom.diagram) rendered by Graphviz; the page
finds each pod's and service's box in the SVG by the scene's ids (Graphviz writes a node's id as
its ``<title>``) and draws the counts over them.
"""

from dataclasses import replace

from lab.classroom import diagram


def exercise_view(name, title, task, check_names, grade=None, running=False, error=None):
    """The running exercise: its task, its checks and, once they ran, which pass."""
    results = {r.name: r for r in grade.results} if grade else {}
    checks = []
    for check in check_names:
        r = results.get(check)
        checks.append({"name": check, "passed": r.passed if r else None,
                       "expected": r.expected if r else "", "got": r.got if r else ""})
    return {"name": name, "title": title, "task": task, "checks": checks, "running": running, "error": error,
            "score": grade.score if grade else None, "solved": grade.solved if grade else None}


def page_state(cluster, traffic, counted_from, exercise=None, reset_at=None, include_system=False,
               problems=()):
    """Everything but the SVG: nodes, pods (with their box ids), services and their traffic."""
    pods = [p for p in cluster.pods if include_system or not diagram.is_system(p)]
    return {
        "lab": cluster.lab, "mode": cluster.kube_proxy.mode, "profile": cluster.kube_proxy.profile,
        "nodes": [{"name": n.name, "ip": str(n.ip), "ready": n.ready} for n in cluster.nodes],
        "pods": [{"id": diagram._id("pod", p.namespace, p.name), "name": p.name, "namespace": p.namespace,
                  "node": p.node, "ip": str(p.ip),
                  "status": "terminating" if p.terminating else ("ready" if p.ready else "not ready")}
                 for p in sorted(pods, key=lambda p: (p.node, p.namespace, p.name))],
        "traffic": traffic, "counted_from": counted_from, "reset_at": reset_at, "exercise": exercise,
        "problems": list(problems),
    }


COUNT_LINE = " " * 40  # room at the foot of each pod's box for the page's count and share bar


def _with_count_line(group):
    boxes = tuple(replace(b, lines=b.lines + (COUNT_LINE,)) if b.kind.startswith("pod") else b for b in group.boxes)
    return replace(group, boxes=boxes, groups=tuple(_with_count_line(g) for g in group.groups))


def scene_svg_input(cluster, include_system=False):
    """The DOT text of the lab's picture, ``lab diagram``'s with an empty line in each pod's box
    (the page's SVG is rendered from it when it changes; the counts are drawn in that line)."""
    sc = diagram.scene(cluster, include_system=include_system)
    return diagram.dot(replace(sc, groups=tuple(_with_count_line(g) for g in sc.groups)))
