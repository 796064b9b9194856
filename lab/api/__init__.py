"""api: the Kubernetes API of a lab, as kube-apiserver serves it to kubectl and client libraries:
HTTPS with the lab's own CA and an admin client certificate, discovery, server-side Tables,
watches, the three patch types, request bodies in JSON, YAML or protobuf (what kubectl's typed
``create`` commands send), Status errors in kube-apiserver's words. Writes go through the
same live changes as ``lab apply`` (one control plane); objects are rendered from the cluster
state with the metadata the control plane gives them.

Edge. May import: lab.errors, lab.tables, lab.spec, lab.cluster, lab.proxy, lab.net, lab.kernel,
lab.agents, lab.live, lab.images.
"""
