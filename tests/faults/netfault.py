"""netfault - cuts and degrades the network between servers on this machine
only, for the fault campaign and the system tests.

Servers run on loopback addresses of their own (127.X.Y.11, .12, ... in a
/24 drawn for the cluster, dlocktest.host_of, so that two clusters cut at the
same time never cut each other) and open their peer connections from that
address, so an
nftables rule on the input hook that matches source and destination address
cuts one direction of one link. Clients connect from 127.0.0.1 and are never
cut: a partition separates servers, as in the Jepsen tests of etcd and
ZooKeeper. Every rule lives in one table of this process's own
(dlock_faults_PID), which heal() empties and close() deletes.

Needs root and nft (Debian's nftables); available() says whether it can run
and, if not, why. Standard library only.
"""

import os
import shutil
import subprocess


def available():
    """(True, "") when rules can be made here, else (False, why)."""
    if os.geteuid() != 0:
        return False, "not root (nftables rules need root)"
    if shutil.which("nft") is None:
        return False, "nft not installed (Debian package nftables)"
    probe = "dlock_faults_probe_%d" % os.getpid()
    r = subprocess.run(["nft", "add", "table", "inet", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return False, "nft cannot make a table: %s" % r.stderr.strip()
    subprocess.run(["nft", "delete", "table", "inet", probe], capture_output=True)
    return True, ""


class Net:
    def __init__(self):
        self.table = "dlock_faults_%d" % os.getpid()
        self.rules = []  # what is cut now, for the log
        self._nft("add table inet %s\n"
                  "add chain inet %s input { type filter hook input priority -10; "
                  "policy accept; }\n" % (self.table, self.table))

    def _nft(self, script):
        r = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("nft failed: %s\n%s" % (r.stderr.strip(), script))

    def _add(self, rules):
        self._nft("".join("add rule inet %s input %s\n" % (self.table, r) for r in rules))
        self.rules += rules

    def drop(self, src, dst, percent=100):
        """Drops packets from address src to address dst: all of them, or
        about percent of them (a lossy link)."""
        if percent >= 100:
            self._add(["ip saddr %s ip daddr %s drop" % (src, dst)])
        else:
            self._add(["ip saddr %s ip daddr %s numgen random mod 100 < %d drop"
                       % (src, dst, percent)])

    def partition(self, groups):
        """Cuts every link between addresses of different groups, both ways."""
        rules = []
        for i, g in enumerate(groups):
            for h in groups[i + 1:]:
                for a in g:
                    for b in h:
                        rules += ["ip saddr %s ip daddr %s drop" % (a, b),
                                  "ip saddr %s ip daddr %s drop" % (b, a)]
        if rules:
            self._add(rules)

    def heal(self):
        """Removes every rule: the network is whole again."""
        self._nft("flush chain inet %s input\n" % self.table)
        self.rules = []

    def close(self):
        subprocess.run(["nft", "delete", "table", "inet", self.table], capture_output=True)
        self.rules = []
