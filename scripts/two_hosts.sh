#!/usr/bin/env bash
# Runs PROGRAM under mpirun on two "hosts" on this machine: two network namespaces joined by a
# veth pair, one rank in each, talking TCP only (as two machines on a LAN would):
#
#   bash scripts/two_hosts.sh build/norma_mpi_check hosts
#   bash scripts/two_hosts.sh build/norma train --model resnet20 --norm sync --batch-size 64 ...
#
#   host 0: namespace norma-h0-PID, interface nv0-PID, 10.77.0.1/24 (mpirun and rank 0)
#   host 1: namespace norma-h1-PID, interface nv1-PID, 10.77.0.2/24 (rank 1)
#
# There is no ssh: Open MPI starts its daemon on a "remote" host through its rsh launcher, and
# the rsh agent here (--mca plm_rsh_agent) is a script that runs the command inside that
# host's namespace with `ip netns exec`. Needs root (CAP_SYS_ADMIN) and iproute2; exits 77,
# saying why, where namespaces cannot be made. Everything is removed at exit.
set -u
if [ "$#" -lt 1 ]; then echo "usage: $0 PROGRAM [ARGS...]" >&2; exit 2; fi
command -v ip >/dev/null 2>&1 || { echo "iproute2 (ip) is not installed"; exit 77; }
command -v mpirun >/dev/null 2>&1 || { echo "mpirun is not installed"; exit 77; }

id=$$
ns0=norma-h0-$id ns1=norma-h1-$id
ip0=10.77.0.1 ip1=10.77.0.2
dir=$(mktemp -d)
cleanup() {
  ip netns del "$ns0" 2>/dev/null
  ip netns del "$ns1" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

if ! err=$(ip netns add "$ns0" 2>&1); then
  echo "network namespaces are not allowed here (ip netns add: $err)"
  exit 77
fi
ip netns add "$ns1" || exit 1
# The veth pair, one end in each namespace, and the addresses of the two hosts.
ip link add "nv0-$id" netns "$ns0" type veth peer name "nv1-$id" netns "$ns1" || exit 1
ip -n "$ns0" addr add "$ip0/24" dev "nv0-$id" && ip -n "$ns1" addr add "$ip1/24" dev "nv1-$id" || exit 1
for ns in "$ns0" "$ns1"; do
  ip -n "$ns" link set lo up && ip -n "$ns" link set "nv${ns:7:1}-$id" up || exit 1
done

# The rsh agent: Open MPI calls it as `agent HOST COMMAND...`, as it would call ssh.
cat > "$dir/netns_rsh" <<AGENT
#!/bin/sh
host=\$1; shift
case "\$host" in
  $ip0) ns=$ns0 ;;
  $ip1) ns=$ns1 ;;
  *) echo "netns_rsh: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" sh -c "\$*"
AGENT
chmod +x "$dir/netns_rsh"

root=""
if [ "$(id -u)" -eq 0 ]; then root="--allow-run-as-root"; fi
# TCP between the ranks (no shared memory, though they share a kernel), on the veth subnet
# only, for both Open MPI's runtime (oob) and its messages (btl). LeakSanitizer is off in the
# ranks whatever ASAN_OPTIONS says (the last setting wins): Open MPI keeps memory it allocated
# (ompi_op_base_op_select) until exit, which LSan reports as leaks that are not norma's.
ip netns exec "$ns0" env OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
  mpirun $root --host "$ip0,$ip1" -np 2 --map-by node --bind-to none --mca mpi_yield_when_idle 1 \
  --mca plm_rsh_agent "$dir/netns_rsh" \
  --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
  -x OMP_NUM_THREADS -x ASAN_OPTIONS "$@"
