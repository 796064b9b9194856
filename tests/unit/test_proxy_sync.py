"""What each kube-proxy sync restores: stale service chains deleted, unchanged ones skipped (partial).
That a first sync replacing empty tables gives what --noflush restores give, in the kernel, is
tests/kernel/test_proxy_sync_kernel.py."""

from lab.proxy.sync import merged, parse, restore_input

FIRST = """*filter
:KUBE-SERVICES - [0:0]
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-AAA - [0:0]
:KUBE-SEP-A1 - [0:0]
:KUBE-SVC-BBB - [0:0]
:KUBE-SEP-B1 - [0:0]
-A KUBE-SERVICES -d 10.96.0.5 -j KUBE-SVC-AAA
-A KUBE-SERVICES -d 10.96.0.6 -j KUBE-SVC-BBB
-A KUBE-SVC-AAA -j KUBE-SEP-A1
-A KUBE-SEP-A1 -j DNAT --to-destination 10.244.1.2:80
-A KUBE-SVC-BBB -j KUBE-SEP-B1
-A KUBE-SEP-B1 -j DNAT --to-destination 10.244.1.3:80
COMMIT
"""
# service BBB is gone, AAA got a second endpoint
SECOND = """*filter
:KUBE-SERVICES - [0:0]
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-AAA - [0:0]
:KUBE-SEP-A1 - [0:0]
:KUBE-SEP-A2 - [0:0]
-A KUBE-SERVICES -d 10.96.0.5 -j KUBE-SVC-AAA
-A KUBE-SVC-AAA -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-A1
-A KUBE-SVC-AAA -j KUBE-SEP-A2
-A KUBE-SEP-A1 -j DNAT --to-destination 10.244.1.2:80
-A KUBE-SEP-A2 -j DNAT --to-destination 10.244.2.2:80
COMMIT
"""


def test_first_sync_writes_everything():
    assert parse(restore_input(FIRST)) == parse(FIRST)


def test_stale_service_chains_are_deleted():
    text = restore_input(SECOND, FIRST)
    assert ":KUBE-SVC-BBB - [0:0]" in text and "-X KUBE-SVC-BBB" in text and "-X KUBE-SEP-B1" in text
    assert text.index(":KUBE-SVC-BBB") < text.index("-X KUBE-SVC-BBB")
    assert "-X KUBE-SVC-AAA" not in text


def test_partial_sync_skips_unchanged_service_chains():
    text = restore_input(SECOND, FIRST, partial=True)
    nat = parse(text)["nat"]
    assert "KUBE-SEP-A1" not in nat  # unchanged: left alone in the kernel
    assert nat["KUBE-SVC-AAA"] == parse(SECOND)["nat"]["KUBE-SVC-AAA"] and "KUBE-SEP-A2" in nat
    assert nat["KUBE-SERVICES"] == parse(SECOND)["nat"]["KUBE-SERVICES"]  # top-level chains: always whole
    full = parse(restore_input(SECOND, FIRST, partial=False))["nat"]
    assert "KUBE-SEP-A1" in full


def test_merged_inputs_declare_each_chain_once_in_one_block_per_table():
    text = merged("*nat\n:A - [0:0]\n-I PREROUTING 1 -j A\nCOMMIT\n*filter\n:F - [0:0]\nCOMMIT\n",
                  "*nat\n:A - [0:0]\n:B - [0:0]\n-A A -j B\nCOMMIT\n")
    assert text == "*nat\n:A - [0:0]\n:B - [0:0]\n-I PREROUTING 1 -j A\n-A A -j B\nCOMMIT\n*filter\n:F - [0:0]\nCOMMIT\n"
