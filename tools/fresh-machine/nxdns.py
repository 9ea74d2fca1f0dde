# tools/fresh-machine/nxdns.py: a DNS server on 127.0.0.1:53 that answers every query "no such name" (NXDOMAIN) at
# once, for `FRESH_NET=private enter`. A network namespace with no way out has no DNS, and a lookup there waits for
# its timeouts (kubeadm's preflight Hostname check took 10 s, and a join test with a 20 s budget ran out); the host
# the tests normally run on has a resolver that answers at once for names nobody has, which this imitates.
# Nothing is forwarded anywhere. Started by enter in the tree's namespaces, gone with them.
import socket

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(4096)
    if len(q) < 12 or q[2] & 0x80:
        continue  # too short, or a response
    i = 12  # the question's name: labels up to the empty one, then type and class
    while i < len(q) and q[i] != 0:
        if q[i] & 0xC0:
            break
        i += 1 + q[i]
    end = i + 5
    if i >= len(q) or q[i] != 0 or end > len(q):
        continue
    # the id, QR + the query's opcode and RD, RA + NXDOMAIN, one question, no records, the question itself
    s.sendto(q[:2] + bytes([0x80 | (q[2] & 0x79), 0x83]) + b"\0\1" + b"\0" * 6 + q[12:end], peer)
