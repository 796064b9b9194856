"""/etc/netns/<netns>/: the files ``ip netns exec`` lays over /etc inside a namespace (the
namespace's resolv.conf and hosts). Only directories the lab recorded are written or removed."""

import os

from lab.kernel.files import remove_tree

ETC_NETNS = "/etc/netns"


def directory(netns_name):
    return os.path.join(ETC_NETNS, netns_name)


def write(netns_name, named_texts):
    path = directory(netns_name)
    os.makedirs(path, exist_ok=True)
    for name, text in named_texts.items():
        with open(os.path.join(path, name), "w") as f:
            f.write(text)


def remove(netns_name):
    remove_tree(directory(netns_name))
