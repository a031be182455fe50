#!/bin/sh
# exec-in.sh <cgroup> <netns|-> <command...>: joins the cgroup (every cgroup v1 hierarchy where it
# exists) and the network namespace, then execs the command. Only the network namespace changes:
# the kubelet, containerd and runc must share the machine's mount namespace.
set -eu
cg=$1
ns=$2
shift 2
for h in /sys/fs/cgroup/*/; do
  if [ -f "$h$cg/cgroup.procs" ]; then echo $$ > "$h$cg/cgroup.procs"; fi
done
if [ "$ns" = - ]; then exec "$@"; fi
exec nsenter --net="/run/netns/$ns" "$@"
