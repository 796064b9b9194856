"""lab trace: the parser and annotations on real xtables-monitor output. The real thing, end to end
on a seed lab, is tests/labs/test_trace_lab.py.

The captured texts below are xtables-monitor --trace output recorded on a seed lab (iptables
1.8.9 nf_tables, kernel 6.x) by ``lab trace --raw``: client -> node1's NodePort 30090 DNATed
to the pod on master, a pod -> the ClusterIP (a second kernel trace id once routed), a NodePort
without endpoints (REJECT), a ClusterIP from outside (SYN retransmitted, seen nowhere else), and
a pod reaching itself through its service (the packet passes through the pod's namespace twice).
"""

import json
import os

import pytest

from factories import SCENARIOS
from lab.cluster.build import build_cluster
from lab.spec import scenario
from lab.proxy import names
from lab.verify import urls
from lab.verify.trace import analysis
from lab.errors import LabError

CLIENT_OUT = """\
PACKET: 2 35b15fab OUT=eth0 SRC=192.168.179.200 DST=192.168.179.100 LEN=60 TOS=0x94 TTL=64 ID=51156 DF SPORT=43439 DPORT=30090 SYN
 TRACE: 2 35b15fab raw:OUTPUT:rule:0x4:CONTINUE  -4 -t raw -A OUTPUT -p tcp -m dscp --dscp 0x25 -m tcp --sport 43439 --tcp-flags SYN,ACK SYN -m comment --comment svclab-trace -j TRACE
 TRACE: 2 35b15fab raw:OUTPUT:policy:ACCEPT
"""


NODE1_NODEPORT = """\
PACKET: 2 2727cc81 IN=eth0 MACSRC=52:85:de:96:4a:7e MACDST=36:42:38:48:f0:78 MACPROTO=0800 SRC=192.168.179.200 DST=192.168.179.100 LEN=60 TOS=0x94 TTL=64 ID=51156 DF SPORT=43439 DPORT=30090 SYN
 TRACE: 2 2727cc81 raw:PREROUTING:rule:0x2:CONTINUE  -4 -t raw -A PREROUTING -p tcp -m dscp --dscp 0x25 -m tcp --tcp-flags SYN,ACK SYN -m comment --comment svclab-trace -j TRACE
 TRACE: 2 2727cc81 raw:PREROUTING:policy:ACCEPT
PACKET: 2 2727cc81 IN=eth0 MACSRC=52:85:de:96:4a:7e MACDST=36:42:38:48:f0:78 MACPROTO=0800 SRC=192.168.179.200 DST=192.168.179.100 LEN=60 TOS=0x94 TTL=64 ID=51156 DF SPORT=43439 DPORT=30090 SYN
 TRACE: 2 2727cc81 mangle:PREROUTING:rule:0x3:JUMP:SVCLAB-LB-RETURN  -4 -t mangle -A PREROUTING -j SVCLAB-LB-RETURN
 TRACE: 2 2727cc81 mangle:PREROUTING:policy:ACCEPT
PACKET: 2 2727cc81 IN=eth0 MACSRC=52:85:de:96:4a:7e MACDST=36:42:38:48:f0:78 MACPROTO=0800 SRC=192.168.179.200 DST=192.168.179.100 LEN=60 TOS=0x94 TTL=64 ID=51156 DF SPORT=43439 DPORT=30090 SYN
 TRACE: 2 2727cc81 nat:PREROUTING:rule:0xf:JUMP:KUBE-SERVICES  -4 -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
 TRACE: 2 2727cc81 nat:KUBE-SERVICES:rule:0x4c:JUMP:KUBE-NODEPORTS  -4 -t nat -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
 TRACE: 2 2727cc81 nat:KUBE-NODEPORTS:rule:0x2c:JUMP:KUBE-MARK-MASQ  -4 -t nat -A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 -j KUBE-MARK-MASQ
 TRACE: 2 2727cc81 nat:KUBE-MARK-MASQ:rule:0x24:CONTINUE  -4 -t nat -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
 TRACE: 2 2727cc81 nat:KUBE-NODEPORTS:rule:0x2d:JUMP:KUBE-SVC-GFPAJ7EGCNM4QF4H  -4 -t nat -A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 -j KUBE-SVC-GFPAJ7EGCNM4QF4H
 TRACE: 2 2727cc81 nat:KUBE-SVC-GFPAJ7EGCNM4QF4H:rule:0x2e:JUMP:KUBE-SEP-TWG53VPX4RADGFC6  -4 -t nat -A KUBE-SVC-GFPAJ7EGCNM4QF4H -m comment --comment "default/nodeport-svc:" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-TWG53VPX4RADGFC6
 TRACE: 2 2727cc81 nat:KUBE-SEP-TWG53VPX4RADGFC6:rule:0x30:ACCEPT  -4 -t nat -A KUBE-SEP-TWG53VPX4RADGFC6 -p tcp -m comment --comment "default/nodeport-svc:" -m tcp -j DNAT --to-destination 10.244.0.23:8080
PACKET: 2 2727cc81 IN=eth0 OUT=eth0 MACSRC=52:85:de:96:4a:7e MACDST=36:42:38:48:f0:78 MACPROTO=0800 SRC=192.168.179.200 DST=10.244.0.23 LEN=60 TOS=0x94 TTL=63 ID=51156 DF SPORT=43439 DPORT=8080 SYN MARK=0x4000
 TRACE: 2 2727cc81 filter:FORWARD:rule:0xf:JUMP:KUBE-FORWARD  -4 -t filter -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
 TRACE: 2 2727cc81 filter:KUBE-FORWARD:rule:0x13:ACCEPT  -4 -t filter -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
PACKET: 2 2727cc81 IN=eth0 OUT=eth0 MACSRC=52:85:de:96:4a:7e MACDST=36:42:38:48:f0:78 MACPROTO=0800 SRC=192.168.179.200 DST=10.244.0.23 LEN=60 TOS=0x94 TTL=63 ID=51156 DF SPORT=43439 DPORT=8080 SYN MARK=0x4000
 TRACE: 2 2727cc81 nat:POSTROUTING:rule:0x10:JUMP:KUBE-POSTROUTING  -4 -t nat -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
 TRACE: 2 2727cc81 nat:KUBE-POSTROUTING:rule:0x22:CONTINUE  -4 -t nat -A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
 TRACE: 2 2727cc81 nat:KUBE-POSTROUTING:rule:0x23:ACCEPT  -4 -t nat -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
"""


MASTER_TO_POD = """\
PACKET: 2 2727cc81 IN=eth0 MACSRC=36:42:38:48:f0:78 MACDST=ba:d8:be:8a:43:24 MACPROTO=0800 SRC=192.168.179.100 DST=10.244.0.23 LEN=60 TOS=0x94 TTL=63 ID=51156 DF SPORT=31071 DPORT=8080 SYN
 TRACE: 2 2727cc81 raw:PREROUTING:rule:0x2:CONTINUE  -4 -t raw -A PREROUTING -p tcp -m dscp --dscp 0x25 -m tcp --tcp-flags SYN,ACK SYN -m comment --comment svclab-trace -j TRACE
 TRACE: 2 2727cc81 raw:PREROUTING:policy:ACCEPT
PACKET: 2 2727cc81 IN=eth0 MACSRC=36:42:38:48:f0:78 MACDST=ba:d8:be:8a:43:24 MACPROTO=0800 SRC=192.168.179.100 DST=10.244.0.23 LEN=60 TOS=0x94 TTL=63 ID=51156 DF SPORT=31071 DPORT=8080 SYN
 TRACE: 2 2727cc81 mangle:PREROUTING:rule:0x3:JUMP:SVCLAB-LB-RETURN  -4 -t mangle -A PREROUTING -j SVCLAB-LB-RETURN
 TRACE: 2 2727cc81 mangle:PREROUTING:policy:ACCEPT
PACKET: 2 2727cc81 IN=eth0 MACSRC=36:42:38:48:f0:78 MACDST=ba:d8:be:8a:43:24 MACPROTO=0800 SRC=192.168.179.100 DST=10.244.0.23 LEN=60 TOS=0x94 TTL=63 ID=51156 DF SPORT=31071 DPORT=8080 SYN
 TRACE: 2 2727cc81 nat:PREROUTING:rule:0xf:JUMP:KUBE-SERVICES  -4 -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
 TRACE: 2 2727cc81 nat:PREROUTING:policy:ACCEPT
PACKET: 2 2727cc81 IN=eth0 OUT=cni0 MACSRC=36:42:38:48:f0:78 MACDST=ba:d8:be:8a:43:24 MACPROTO=0800 SRC=192.168.179.100 DST=10.244.0.23 LEN=60 TOS=0x94 TTL=62 ID=51156 DF SPORT=31071 DPORT=8080 SYN
 TRACE: 2 2727cc81 filter:FORWARD:rule:0xf:JUMP:KUBE-FORWARD  -4 -t filter -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
 TRACE: 2 2727cc81 filter:FORWARD:rule:0xb:JUMP:KUBE-SERVICES  -4 -t filter -A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
 TRACE: 2 2727cc81 filter:FORWARD:policy:ACCEPT
PACKET: 2 2727cc81 IN=eth0 OUT=cni0 MACSRC=36:42:38:48:f0:78 MACDST=ba:d8:be:8a:43:24 MACPROTO=0800 SRC=192.168.179.100 DST=10.244.0.23 LEN=60 TOS=0x94 TTL=62 ID=51156 DF SPORT=31071 DPORT=8080 SYN
 TRACE: 2 2727cc81 nat:POSTROUTING:rule:0x10:JUMP:KUBE-POSTROUTING  -4 -t nat -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
 TRACE: 2 2727cc81 nat:KUBE-POSTROUTING:rule:0x21:0xfffffffb  -4 -t nat -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
 TRACE: 2 2727cc81 nat:POSTROUTING:rule:0x3:JUMP:FLANNEL-POSTRTG  -4 -t nat -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
 TRACE: 2 2727cc81 nat:POSTROUTING:policy:ACCEPT
"""


NODEPORT_DSCP, NODEPORT_SPORT = 37, 43439


MASTER_POD_TO_CLUSTERIP = """\
PACKET: 2 c122ce00 IN=cni0 MACSRC=e:6f:1a:41:56:64 MACDST=ee:a4:be:f3:8c:9a MACPROTO=0800 SRC=10.244.0.23 DST=10.105.182.209 LEN=60 TOS=0xac TTL=64 ID=64989 DF SPORT=36775 DPORT=3000 SYN
 TRACE: 2 c122ce00 raw:PREROUTING:rule:0x2:CONTINUE  -4 -t raw -A PREROUTING -p tcp -m dscp --dscp 0x2b -m tcp --tcp-flags SYN,ACK SYN -m comment --comment svclab-trace -j TRACE
 TRACE: 2 c122ce00 raw:PREROUTING:policy:ACCEPT
PACKET: 2 c122ce00 IN=cni0 MACSRC=e:6f:1a:41:56:64 MACDST=ee:a4:be:f3:8c:9a MACPROTO=0800 SRC=10.244.0.23 DST=10.105.182.209 LEN=60 TOS=0xac TTL=64 ID=64989 DF SPORT=36775 DPORT=3000 SYN
 TRACE: 2 c122ce00 mangle:PREROUTING:rule:0x3:JUMP:SVCLAB-LB-RETURN  -4 -t mangle -A PREROUTING -j SVCLAB-LB-RETURN
 TRACE: 2 c122ce00 mangle:PREROUTING:policy:ACCEPT
PACKET: 2 c122ce00 IN=cni0 MACSRC=e:6f:1a:41:56:64 MACDST=ee:a4:be:f3:8c:9a MACPROTO=0800 SRC=10.244.0.23 DST=10.105.182.209 LEN=60 TOS=0xac TTL=64 ID=64989 DF SPORT=36775 DPORT=3000 SYN
 TRACE: 2 c122ce00 nat:PREROUTING:rule:0xf:JUMP:KUBE-SERVICES  -4 -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
 TRACE: 2 c122ce00 nat:KUBE-SERVICES:rule:0x2b:JUMP:KUBE-SVC-GFPAJ7EGCNM4QF4H  -4 -t nat -A KUBE-SERVICES -d 10.105.182.209/32 -p tcp -m comment --comment "default/nodeport-svc: cluster IP" -m tcp --dport 3000 -j KUBE-SVC-GFPAJ7EGCNM4QF4H
 TRACE: 2 c122ce00 nat:KUBE-SVC-GFPAJ7EGCNM4QF4H:rule:0x31:JUMP:KUBE-SEP-YUA4WPOUSEKJIAM2  -4 -t nat -A KUBE-SVC-GFPAJ7EGCNM4QF4H -m comment --comment "default/nodeport-svc:" -j KUBE-SEP-YUA4WPOUSEKJIAM2
 TRACE: 2 c122ce00 nat:KUBE-SEP-YUA4WPOUSEKJIAM2:rule:0x33:ACCEPT  -4 -t nat -A KUBE-SEP-YUA4WPOUSEKJIAM2 -p tcp -m comment --comment "default/nodeport-svc:" -m tcp -j DNAT --to-destination 10.244.2.14:8080
PACKET: 2 d62a175c IN=cni0 OUT=eth0 MACSRC=e:6f:1a:41:56:64 MACDST=ee:a4:be:f3:8c:9a MACPROTO=0800 SRC=10.244.0.23 DST=10.244.2.14 LEN=60 TOS=0xac TTL=63 ID=64989 DF SPORT=36775 DPORT=8080 SYN
 TRACE: 2 d62a175c filter:FORWARD:rule:0xf:JUMP:KUBE-FORWARD  -4 -t filter -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
 TRACE: 2 d62a175c filter:FORWARD:rule:0xb:JUMP:KUBE-SERVICES  -4 -t filter -A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
 TRACE: 2 d62a175c filter:FORWARD:policy:ACCEPT
PACKET: 2 d62a175c IN=cni0 OUT=eth0 MACSRC=e:6f:1a:41:56:64 MACDST=ee:a4:be:f3:8c:9a MACPROTO=0800 SRC=10.244.0.23 DST=10.244.2.14 LEN=60 TOS=0xac TTL=63 ID=64989 DF SPORT=36775 DPORT=8080 SYN
 TRACE: 2 d62a175c nat:POSTROUTING:rule:0x10:JUMP:KUBE-POSTROUTING  -4 -t nat -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
 TRACE: 2 d62a175c nat:KUBE-POSTROUTING:rule:0x21:0xfffffffb  -4 -t nat -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
 TRACE: 2 d62a175c nat:POSTROUTING:rule:0x3:JUMP:FLANNEL-POSTRTG  -4 -t nat -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
 TRACE: 2 d62a175c nat:FLANNEL-POSTRTG:rule:0x5:0xfffffffb  -4 -t nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
 TRACE: 2 d62a175c nat:POSTROUTING:policy:ACCEPT
"""


CLUSTERIP_DSCP = 43


NODE1_REJECT = """\
PACKET: 2 917c3a7b IN=eth0 MACSRC=ee:27:86:f1:e:8f MACDST=76:2b:7f:e0:de:62 MACPROTO=0800 SRC=192.168.179.200 DST=192.168.179.100 LEN=60 TOS=0xf8 TTL=64 ID=64788 DF SPORT=48535 DPORT=30091 SYN
 TRACE: 2 917c3a7b raw:PREROUTING:rule:0x2:CONTINUE  -4 -t raw -A PREROUTING -p tcp -m dscp --dscp 0x3e -m tcp --tcp-flags SYN,ACK SYN -m comment --comment svclab-trace -j TRACE
 TRACE: 2 917c3a7b raw:PREROUTING:policy:ACCEPT
PACKET: 2 917c3a7b IN=eth0 MACSRC=ee:27:86:f1:e:8f MACDST=76:2b:7f:e0:de:62 MACPROTO=0800 SRC=192.168.179.200 DST=192.168.179.100 LEN=60 TOS=0xf8 TTL=64 ID=64788 DF SPORT=48535 DPORT=30091 SYN
 TRACE: 2 917c3a7b mangle:PREROUTING:rule:0x3:JUMP:SVCLAB-LB-RETURN  -4 -t mangle -A PREROUTING -j SVCLAB-LB-RETURN
 TRACE: 2 917c3a7b mangle:PREROUTING:policy:ACCEPT
PACKET: 2 917c3a7b IN=eth0 MACSRC=ee:27:86:f1:e:8f MACDST=76:2b:7f:e0:de:62 MACPROTO=0800 SRC=192.168.179.200 DST=192.168.179.100 LEN=60 TOS=0xf8 TTL=64 ID=64788 DF SPORT=48535 DPORT=30091 SYN
 TRACE: 2 917c3a7b nat:PREROUTING:rule:0xf:JUMP:KUBE-SERVICES  -4 -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
 TRACE: 2 917c3a7b nat:KUBE-SERVICES:rule:0x3f:JUMP:KUBE-NODEPORTS  -4 -t nat -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
 TRACE: 2 917c3a7b nat:PREROUTING:policy:ACCEPT
PACKET: 2 917c3a7b IN=eth0 MACSRC=ee:27:86:f1:e:8f MACDST=76:2b:7f:e0:de:62 MACPROTO=0800 SRC=192.168.179.200 DST=192.168.179.100 LEN=60 TOS=0xf8 TTL=64 ID=64788 DF SPORT=48535 DPORT=30091 SYN
 TRACE: 2 917c3a7b filter:INPUT:rule:0x10:JUMP:KUBE-FIREWALL  -4 -t filter -A INPUT -j KUBE-FIREWALL
 TRACE: 2 917c3a7b filter:INPUT:rule:0xe:JUMP:KUBE-SERVICES  -4 -t filter -A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
 TRACE: 2 917c3a7b filter:INPUT:rule:0x9:JUMP:KUBE-EXTERNAL-SERVICES  -4 -t filter -A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
 TRACE: 2 917c3a7b filter:KUBE-EXTERNAL-SERVICES:rule:0x13:DROP  -4 -t filter -A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "default/empty-svc: has no endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30091 -j REJECT --reject-with icmp-port-unreachable
"""


REJECT_DSCP = 62


CLIENT_RETRANSMITS = """\
PACKET: 2 df3dae9a OUT=eth0 SRC=192.168.179.200 DST=10.96.0.10 LEN=60 TOS=0x8 TTL=64 ID=42385 DF SPORT=40151 DPORT=53 SYN
 TRACE: 2 df3dae9a raw:OUTPUT:rule:0x4:CONTINUE  -4 -t raw -A OUTPUT -p tcp -m dscp --dscp 0x02 -m tcp --sport 40151 --tcp-flags SYN,ACK SYN -m comment --comment svclab-trace -j TRACE
 TRACE: 2 df3dae9a raw:OUTPUT:policy:ACCEPT
PACKET: 2 e50f8869 OUT=eth0 SRC=192.168.179.200 DST=10.96.0.10 LEN=60 TOS=0x8 TTL=64 ID=42386 DF SPORT=40151 DPORT=53 SYN
 TRACE: 2 e50f8869 raw:OUTPUT:rule:0x4:CONTINUE  -4 -t raw -A OUTPUT -p tcp -m dscp --dscp 0x02 -m tcp --sport 40151 --tcp-flags SYN,ACK SYN -m comment --comment svclab-trace -j TRACE
 TRACE: 2 e50f8869 raw:OUTPUT:policy:ACCEPT
PACKET: 2 358f0c1c OUT=eth0 SRC=192.168.179.200 DST=10.96.0.10 LEN=60 TOS=0x8 TTL=64 ID=42387 DF SPORT=40151 DPORT=53 SYN
 TRACE: 2 358f0c1c raw:OUTPUT:rule:0x4:CONTINUE  -4 -t raw -A OUTPUT -p tcp -m dscp --dscp 0x02 -m tcp --sport 40151 --tcp-flags SYN,ACK SYN -m comment --comment svclab-trace -j TRACE
 TRACE: 2 358f0c1c raw:OUTPUT:policy:ACCEPT
"""


RETRANSMIT_DSCP = 2


HAIRPIN_POD = """\
PACKET: 2 060376e6 OUT=eth0 SRC=10.244.0.23 DST=10.105.182.209 LEN=60 TOS=0xa4 TTL=64 ID=47504 DF SPORT=55071 DPORT=3000 SYN
 TRACE: 2 060376e6 raw:OUTPUT:rule:0x4:CONTINUE  -4 -t raw -A OUTPUT -p tcp -m dscp --dscp 0x29 -m tcp --sport 55071 --tcp-flags SYN,ACK SYN -m comment --comment svclab-trace -j TRACE
 TRACE: 2 060376e6 raw:OUTPUT:policy:ACCEPT
PACKET: 2 08323982 IN=eth0 MACSRC=e:6f:1a:41:56:64 MACDST=e:6f:1a:41:56:64 MACPROTO=0800 SRC=10.244.0.1 DST=10.244.0.23 LEN=60 TOS=0xa4 TTL=64 ID=47504 DF SPORT=2848 DPORT=8080 SYN
 TRACE: 2 08323982 raw:PREROUTING:rule:0x2:CONTINUE  -4 -t raw -A PREROUTING -p tcp -m dscp --dscp 0x29 -m tcp --tcp-flags SYN,ACK SYN -m comment --comment svclab-trace -j TRACE
 TRACE: 2 08323982 raw:PREROUTING:policy:ACCEPT
"""


HAIRPIN_MASTER = """\
PACKET: 2 e48a0fdb IN=cni0 MACSRC=e:6f:1a:41:56:64 MACDST=ee:a4:be:f3:8c:9a MACPROTO=0800 SRC=10.244.0.23 DST=10.105.182.209 LEN=60 TOS=0xa4 TTL=64 ID=47504 DF SPORT=55071 DPORT=3000 SYN
 TRACE: 2 e48a0fdb raw:PREROUTING:rule:0x2:CONTINUE  -4 -t raw -A PREROUTING -p tcp -m dscp --dscp 0x29 -m tcp --tcp-flags SYN,ACK SYN -m comment --comment svclab-trace -j TRACE
 TRACE: 2 e48a0fdb raw:PREROUTING:policy:ACCEPT
PACKET: 2 e48a0fdb IN=cni0 MACSRC=e:6f:1a:41:56:64 MACDST=ee:a4:be:f3:8c:9a MACPROTO=0800 SRC=10.244.0.23 DST=10.105.182.209 LEN=60 TOS=0xa4 TTL=64 ID=47504 DF SPORT=55071 DPORT=3000 SYN
 TRACE: 2 e48a0fdb mangle:PREROUTING:rule:0x3:JUMP:SVCLAB-LB-RETURN  -4 -t mangle -A PREROUTING -j SVCLAB-LB-RETURN
 TRACE: 2 e48a0fdb mangle:PREROUTING:policy:ACCEPT
PACKET: 2 e48a0fdb IN=cni0 MACSRC=e:6f:1a:41:56:64 MACDST=ee:a4:be:f3:8c:9a MACPROTO=0800 SRC=10.244.0.23 DST=10.105.182.209 LEN=60 TOS=0xa4 TTL=64 ID=47504 DF SPORT=55071 DPORT=3000 SYN
 TRACE: 2 e48a0fdb nat:PREROUTING:rule:0xf:JUMP:KUBE-SERVICES  -4 -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
 TRACE: 2 e48a0fdb nat:KUBE-SERVICES:rule:0x2b:JUMP:KUBE-SVC-GFPAJ7EGCNM4QF4H  -4 -t nat -A KUBE-SERVICES -d 10.105.182.209/32 -p tcp -m comment --comment "default/nodeport-svc: cluster IP" -m tcp --dport 3000 -j KUBE-SVC-GFPAJ7EGCNM4QF4H
 TRACE: 2 e48a0fdb nat:KUBE-SVC-GFPAJ7EGCNM4QF4H:rule:0x2e:JUMP:KUBE-SEP-TWG53VPX4RADGFC6  -4 -t nat -A KUBE-SVC-GFPAJ7EGCNM4QF4H -m comment --comment "default/nodeport-svc:" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-TWG53VPX4RADGFC6
 TRACE: 2 e48a0fdb nat:KUBE-SEP-TWG53VPX4RADGFC6:rule:0x2f:JUMP:KUBE-MARK-MASQ  -4 -t nat -A KUBE-SEP-TWG53VPX4RADGFC6 -s 10.244.0.23/32 -m comment --comment "default/nodeport-svc:" -j KUBE-MARK-MASQ
 TRACE: 2 e48a0fdb nat:KUBE-MARK-MASQ:rule:0x24:CONTINUE  -4 -t nat -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
 TRACE: 2 e48a0fdb nat:KUBE-SEP-TWG53VPX4RADGFC6:rule:0x30:ACCEPT  -4 -t nat -A KUBE-SEP-TWG53VPX4RADGFC6 -p tcp -m comment --comment "default/nodeport-svc:" -m tcp -j DNAT --to-destination 10.244.0.23:8080
PACKET: 2 e48a0fdb IN=cni0 OUT=cni0 MACSRC=e:6f:1a:41:56:64 MACDST=e:6f:1a:41:56:64 MACPROTO=0800 SRC=10.244.0.23 DST=10.244.0.23 LEN=60 TOS=0xa4 TTL=64 ID=47504 DF SPORT=55071 DPORT=8080 SYN MARK=0x4000
 TRACE: 2 e48a0fdb filter:FORWARD:rule:0xf:JUMP:KUBE-FORWARD  -4 -t filter -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
 TRACE: 2 e48a0fdb filter:KUBE-FORWARD:rule:0x13:ACCEPT  -4 -t filter -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
PACKET: 2 e48a0fdb OUT=cni0 LL=0x0 0e6f1a4156640e6f1a4156640800 SRC=10.244.0.23 DST=10.244.0.23 LEN=60 TOS=0xa4 TTL=64 ID=47504 DF SPORT=55071 DPORT=8080 SYN MARK=0x4000
 TRACE: 2 e48a0fdb nat:POSTROUTING:rule:0x10:JUMP:KUBE-POSTROUTING  -4 -t nat -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
 TRACE: 2 e48a0fdb nat:KUBE-POSTROUTING:rule:0x22:CONTINUE  -4 -t nat -A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
 TRACE: 2 e48a0fdb nat:KUBE-POSTROUTING:rule:0x23:ACCEPT  -4 -t nat -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
"""


HAIRPIN_DSCP = 41


@pytest.fixture(scope="module")
def seed_state():
    return build_cluster(scenario.load(os.path.join(SCENARIOS, "seed.yml")))


def steps(w):
    return [s for hop in w["hops"] for s in hop["steps"]]


# parsing -----------------------------------------------------------------------------------------

def test_packet_line_fields():
    line = NODE1_NODEPORT.splitlines()[0]
    pkt = analysis.parse_packet_line(line)
    assert pkt["in"] == "eth0" and pkt["src"] == "192.168.179.200" and pkt["dst"] == "192.168.179.100"
    assert pkt["sport"] == NODEPORT_SPORT and pkt["dport"] == 30090 and pkt["ttl"] == 64
    assert int(pkt["tos"], 16) == analysis.tos_of(NODEPORT_DSCP) and "SYN" in pkt["flags"]


def test_trace_line_verdicts():
    events = [e for e in analysis.parse_monitor(NODE1_NODEPORT + MASTER_TO_POD) if e["kind"] == "trace"]
    assert all(e["table"] in ("raw", "mangle", "nat", "filter") for e in events)
    jump = next(e for e in events if e["chain"] == "KUBE-NODEPORTS" and e["verdict"] == "JUMP"
                and e["target"].startswith("KUBE-SVC-"))
    assert jump["target"] == "KUBE-SVC-GFPAJ7EGCNM4QF4H" and jump["handle"] == "0x2d"
    assert jump["rule"].startswith("-p tcp -m comment --comment \"default/nodeport-svc:\"")
    assert jump["rule"].endswith("--dport 30090 -j KUBE-SVC-GFPAJ7EGCNM4QF4H")
    ret = next(e for e in events if e["chain"] == "KUBE-POSTROUTING" and "RETURN" in e["rule"])
    assert ret["verdict"] == "RETURN"  # xtables-monitor prints it as 0xfffffffb
    policy = next(e for e in events if e["type"] == "policy")
    assert policy["verdict"] == "ACCEPT" and policy["rule"] is None


def test_walk_drops_own_trace_rule_and_keeps_order():
    w = analysis.walk(analysis.parse_monitor(NODE1_NODEPORT), NODEPORT_DSCP)
    assert [h["hook"] for h in w["hops"]] == ["PREROUTING", "PREROUTING", "PREROUTING", "FORWARD", "POSTROUTING"]
    assert w["hops"][0]["table"] == "raw" and w["hops"][0]["steps"] == []  # only our TRACE rule was there
    assert not any(analysis.TRACE_COMMENT in (s["rule"] or "") for s in steps(w))
    chains = [s["chain"] for s in steps(w) if s["table"] == "nat"]
    assert chains[:6] == ["PREROUTING", "KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-MARK-MASQ", "KUBE-NODEPORTS",
                          "KUBE-SVC-GFPAJ7EGCNM4QF4H"]
    actions = [analysis.action(s) for s in steps(w)]
    assert "DNAT to 10.244.0.23:8080" in actions and "MASQUERADE --random-fully" in actions
    assert actions.index("DNAT to 10.244.0.23:8080") < actions.index("MASQUERADE --random-fully")
    assert w["hops"][3]["packet"]["dst"] == "10.244.0.23" and w["hops"][3]["packet"]["dport"] == 8080
    assert w["other_packets"] == 0


def test_walk_follows_the_packet_across_a_new_kernel_trace_id():
    # bridged from the pod by cni0, then routed: the kernel gives the packet a second trace id
    events = analysis.parse_monitor(MASTER_POD_TO_CLUSTERIP)
    assert len({e["id"] for e in events if e["kind"] == "packet"}) == 2
    w = analysis.walk(events, CLUSTERIP_DSCP)
    assert len(w["trace_ids"]) == 2 and w["other_packets"] == 0
    assert [h["hook"] for h in w["hops"]][-2:] == ["FORWARD", "POSTROUTING"]
    assert "DNAT to 10.244.2.14:8080" in [analysis.action(s) for s in steps(w)]


def test_walk_counts_retransmissions_and_ignores_other_dscp():
    w = analysis.walk(analysis.parse_monitor(CLIENT_RETRANSMITS), RETRANSMIT_DSCP)
    assert w["other_packets"] == 2 and len(w["hops"]) == 1 and steps(w) == []
    assert analysis.walk(analysis.parse_monitor(CLIENT_RETRANSMITS), (RETRANSMIT_DSCP + 1) % 64) is None
    assert analysis.walk([], 5) is None


def test_reject_verdict():
    w = analysis.walk(analysis.parse_monitor(NODE1_REJECT), REJECT_DSCP)
    last = steps(w)[-1]
    assert last["chain"] == "KUBE-EXTERNAL-SERVICES" and last["verdict"] == "DROP"
    assert analysis.action(last) == "REJECT with icmp-port-unreachable" and analysis.is_final(last)
    assert w["hops"][-1]["hook"] == "INPUT"


def test_action_words():
    step = {"type": "rule", "verdict": "ACCEPT", "target": None, "rule": "-p tcp -j SNAT --to-source 1.2.3.4"}
    assert analysis.action(step) == "SNAT to 1.2.3.4"
    assert analysis.action({"type": "rule", "verdict": "JUMP", "target": "KUBE-SERVICES", "rule": "-j KUBE-SERVICES"}) \
        == "jump KUBE-SERVICES"
    assert analysis.action({"type": "rule", "verdict": "CONTINUE", "target": None, "rule": "-j MARK"}) == "continue"
    assert analysis.action({"type": "policy", "verdict": "ACCEPT"}) == "policy ACCEPT"


# annotation and the report ------------------------------------------------------------------------

def test_chain_names_from_the_cluster_state(seed_state):
    known = names.chain_owners(seed_state)
    assert known["KUBE-SVC-GFPAJ7EGCNM4QF4H"] == "default/nodeport-svc:"  # 1.18: trailing colon
    assert known["KUBE-SEP-TWG53VPX4RADGFC6"] == \
        "default/nodeport-svc: -> pod-nodeport-6cc49c7999-gdqbg 10.244.0.23:8080"
    assert known["KUBE-SEP-YUA4WPOUSEKJIAM2"].endswith("pod-nodeport-6cc49c7999-5fjdh 10.244.2.14:8080")
    assert names.describe_chain("KUBE-SEP-AAAAAAAAAAAAAAAA", known).startswith("not in the lab's cluster state")
    assert "NodePorts" in names.describe_chain("KUBE-NODEPORTS", known)


def _seed_report(seed_state):
    walks = {"k8s-client": analysis.walk(analysis.parse_monitor(CLIENT_OUT), NODEPORT_DSCP),
             "k8s-master": analysis.walk(analysis.parse_monitor(MASTER_TO_POD), NODEPORT_DSCP),
             "k8s-node1": analysis.walk(analysis.parse_monitor(NODE1_NODEPORT), NODEPORT_DSCP),
             "k8s-node2": None}
    probe = {"result": "established", "src": "192.168.179.200", "sport": NODEPORT_SPORT,
             "dst": "192.168.179.100", "dport": 30090, "answer": "You've hit pod-nodeport-6cc49c7999-gdqbg"}
    return analysis.build_report(seed_state, "k8s-client", walks, probe, "http://192.168.179.100:30090", "client")


def test_report_orders_namespaces_along_the_path(seed_state):
    report = _seed_report(seed_state)
    # the monitors were started client, master, node1; the packet went client -> node1 -> master
    assert [ns["netns"] for ns in report["namespaces"]] == ["k8s-client", "k8s-node1", "k8s-master"]
    assert [ns["what"] for ns in report["namespaces"]] == ["host client", "node node1", "node master"]
    assert report["chains"]["KUBE-SEP-TWG53VPX4RADGFC6"].endswith("pod-nodeport-6cc49c7999-gdqbg 10.244.0.23:8080")
    nat = {c["what"]: c for c in report["nat"]}
    assert nat["destination"]["before"] == "192.168.179.100:30090" and nat["destination"]["after"] == "10.244.0.23:8080"
    assert "KUBE-SEP-TWG53VPX4RADGFC6" in nat["destination"]["by"]
    assert nat["source"]["after"].startswith("192.168.179.100:") and nat["source"]["seen_in"] == "k8s-master"
    assert "MASQUERADE" in nat["source"]["by"]
    json.dumps(report)  # --json


def test_text_walk(seed_state):
    text = analysis.format_text(_seed_report(seed_state))
    lines = text.splitlines()
    assert "k8s-node1 (node node1)" in lines and "k8s-master (node master)" in lines
    svc = next(line for line in lines if "nat KUBE-NODEPORTS" in line and "-j KUBE-SVC-GFPAJ7EGCNM4QF4H" in line)
    assert svc.endswith("(default/nodeport-svc:)")
    sep = next(line for line in lines if "-j KUBE-SEP-TWG53VPX4RADGFC6" in line)
    assert sep.endswith("(default/nodeport-svc: -> pod-nodeport-6cc49c7999-gdqbg 10.244.0.23:8080)")
    assert any(line.strip() == "verdict DNAT to 10.244.0.23:8080" for line in lines)
    assert "  KUBE-SEP-TWG53VPX4RADGFC6 = default/nodeport-svc: -> pod-nodeport-6cc49c7999-gdqbg 10.244.0.23:8080" \
        in lines
    assert lines.index("k8s-client (host client)") < lines.index("k8s-node1 (node node1)") \
        < lines.index("k8s-master (node master)")
    assert analysis.TRACE_COMMENT not in text


def test_a_pod_reaching_itself_through_its_service(seed_state):
    # the SYN leaves the pod (OUTPUT), is DNATed back to it by master, and comes in again (PREROUTING)
    pod_ns, master_ns = "k8s-pod-nodeport-6cc49c7999-gdqbg", "k8s-master"
    walks = {pod_ns: analysis.walk(analysis.parse_monitor(HAIRPIN_POD), HAIRPIN_DSCP),
             master_ns: analysis.walk(analysis.parse_monitor(HAIRPIN_MASTER), HAIRPIN_DSCP)}
    assert [len(v) for v in analysis.split_visits(walks[pod_ns]["hops"])] == [1, 1]
    probe = {"result": "established", "dst": "10.105.182.209", "dport": 3000}
    report = analysis.build_report(seed_state, pod_ns, walks, probe, "10.105.182.209:3000",
                                "pod-nodeport-6cc49c7999-gdqbg")
    assert [ns["netns"] for ns in report["namespaces"]] == [pod_ns, master_ns, pod_ns]  # same TTL all along
    assert report["namespaces"][2]["hops"][0]["packet"]["src"] == "10.244.0.1"  # masqueraded to cni0's address
    masq = [s for hop in report["namespaces"][1]["hops"] for s in hop["steps"]
            if s["chain"] == "KUBE-SEP-TWG53VPX4RADGFC6"]
    assert [s["action"] for s in masq] == ["jump KUBE-MARK-MASQ", "DNAT to 10.244.0.23:8080"]
    assert [c["what"] for c in report["nat"]] == ["destination", "source"]


def test_parse_url():
    def parse(url):
        u = urls.parse(url, ("http", "https", "tcp"), ipv4=True, verb="trace")
        return u.scheme, u.host, u.port, u.path
    assert parse("http://192.168.179.100:30090") == ("http", "192.168.179.100", 30090, "/")
    assert parse("192.168.179.100:30090") == ("http", "192.168.179.100", 30090, "/")
    assert parse("http://10.96.0.1/x?y=1") == ("http", "10.96.0.1", 80, "/x?y=1")
    assert parse("tcp://10.96.0.10:53")[2] == 53
    for bad in ("nodeport-svc:3000", "ftp://1.2.3.4:21", "tcp://1.2.3.4", "1.2.3.4:99999"):
        with pytest.raises(LabError):
            parse(bad)
