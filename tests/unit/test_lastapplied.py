"""The last-applied annotation a scenario's manifests and ``lab apply`` leave, byte for byte as
kubectl apply writes it (the oracle: the annotation kubectl 1.32 stored for the same file)."""

import yaml

from lab.spec import lastapplied

WEB2 = """\
apiVersion: v1
kind: Service
metadata:
  name: web2
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"""
KUBECTL_132 = ('{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"name":"web2","namespace":"default"},'
               '"spec":{"ports":[{"port":80,"targetPort":8080}],"selector":{"app":"web"},"type":"NodePort"}}\n')


def test_the_annotation_is_what_kubectl_apply_stores():
    doc = lastapplied.annotate(yaml.safe_load(WEB2))
    assert doc["metadata"]["annotations"] == {lastapplied.ANNOTATION: KUBECTL_132}
    assert "namespace" not in doc["metadata"]  # the object itself is left as written


def test_own_annotations_are_kept_and_the_old_one_replaced():
    doc = yaml.safe_load(WEB2)
    doc["metadata"]["annotations"] = {"note": "a<b & c>d", lastapplied.ANNOTATION: "stale"}
    out = lastapplied.annotate(doc)
    text = out["metadata"]["annotations"][lastapplied.ANNOTATION]
    assert '"annotations":{"note":"a\\u003cb \\u0026 c\\u003ed"}' in text and "stale" not in text
    assert out["metadata"]["annotations"]["note"] == "a<b & c>d"


def test_a_namespace_gets_no_namespace_and_lists_are_annotated_item_by_item():
    ns = lastapplied.annotate({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    assert ns["metadata"]["annotations"][lastapplied.ANNOTATION] == \
        '{"apiVersion":"v1","kind":"Namespace","metadata":{"annotations":{},"name":"team"}}\n'
    listed = lastapplied.annotate_all({"apiVersion": "v1", "kind": "List", "items": [yaml.safe_load(WEB2)]})
    assert listed["items"][0]["metadata"]["annotations"][lastapplied.ANNOTATION] == KUBECTL_132
    assert lastapplied.annotate("not a mapping") == "not a mapping"
