#!/bin/sh
# PID 1 of a `cargo xtask vm-test` guest (dash; written by xtask/src/vm).
#
# Stage 1 (the initramfs rootfs): pivot_root(2), which every container start needs, fails
# with EINVAL while / is the rootfs mount (it has no parent). A bind mount of it moved onto /
# does have one; nothing needs copying.
# Stage 2: API filesystems, modules, the 9p shares and the scratch disk, cgroups as the host
# asked, environment checks, then the payload; the exit marker goes to the second serial
# port, logs to the 9p output directory; then power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umask 022

die() {
    echo "vmtest: FATAL: $*"
    poweroff -f
    exit 1
}

if [ "$1" != stage2 ]; then
    echo "vmtest: stage 1"
    mount --bind / /newroot || die "cannot bind-mount the rootfs"
    cd /newroot || die "cannot enter /newroot"
    mount --move . / || die "cannot move the root bind mount"
    exec chroot . /init stage2
    die "chroot failed"
fi

OUT=/vmtest/out
mark() { # record guest uptime at a named point
    read -r up _ </proc/uptime
    echo "$1 $up" >>"$OUT/timings"
}

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o mode=0755,nosuid devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev,mode=1777 shm /dev/shm
mount -t mqueue -o nosuid,nodev,noexec mqueue /dev/mqueue
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t tmpfs -o nosuid,nodev,mode=0755 run /run
hostname vmtest

# Modules, in dependency order (computed on the host from each module's .modinfo); the
# others in the image load on demand through modprobe.
read -r up _ </proc/uptime
echo "vmtest: stage 2 at ${up}s, loading modules"
release=$(uname -r)
modfail=""
while read -r mod; do
    insmod "/lib/modules/$release/$mod" 2>/tmp/insmod.err ||
        grep -q 'File exists' /tmp/insmod.err || modfail="$modfail ${mod##*/}"
done </etc/vmtest/modules
rm -f /tmp/insmod.err
echo /sbin/modprobe >/proc/sys/kernel/modprobe

mkdir -p "$OUT"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vmtest_out "$OUT" ||
    die "cannot mount the output share (modules that failed:$modfail)"
mark stage2
# shellcheck disable=SC1091
. "$OUT/config.sh"

# cgroups, in the layout the host asked for ($LAYOUT).
mount_v1() { # $1: how to group the controllers (systemd | separate)
    mount -t tmpfs -o nosuid,nodev,noexec,mode=0755 cgroup /sys/fs/cgroup
    if [ "$1" = systemd ]; then
        # What systemd (legacy mode) mounts: every controller, cpu+cpuacct and
        # net_cls+net_prio co-mounted with the single names as symlinks.
        set -- cpu,cpuacct net_cls,net_prio
        for c in $(awk 'NR > 1 && $4 == 1 { print $1 }' /proc/cgroups); do
            case "$c" in cpu | cpuacct | net_cls | net_prio) ;; *) set -- "$@" "$c" ;; esac
        done
    else
        # What this project's build host has: one hierarchy per controller, some left
        # to the unified hierarchy.
        set -- cpu cpuacct cpuset memory devices freezer blkio pids
    fi
    for c in "$@"; do
        mkdir -p "/sys/fs/cgroup/$c"
        mount -t cgroup -o "nosuid,nodev,noexec,$c" cgroup "/sys/fs/cgroup/$c"
        case "$c" in *,*)
            for single in $(echo "$c" | tr , ' '); do ln -s "$c" "/sys/fs/cgroup/$single"; done
            ;;
        esac
    done
    mkdir -p /sys/fs/cgroup/systemd
    mount -t cgroup -o nosuid,nodev,noexec,none,name=systemd cgroup /sys/fs/cgroup/systemd
}
case "$LAYOUT" in
v2)
    mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate cgroup2 /sys/fs/cgroup
    # Like systemd: every controller available to the children of the root.
    for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
        echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
    done
    ;;
v1) mount_v1 systemd ;;
hybrid)
    mount_v1 separate
    mkdir -p /sys/fs/cgroup/unified
    mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate cgroup2 /sys/fs/cgroup/unified
    ;;
*) die "unknown cgroup layout '$LAYOUT'" ;;
esac
awk '$2 ~ "^/sys/fs/cgroup"' /proc/mounts >"$OUT/cgroup-mounts"
for f in /sys/fs/cgroup/cgroup.controllers /sys/fs/cgroup/unified/cgroup.controllers; do
    [ -f "$f" ] && echo "$f: $(cat "$f")" >>"$OUT/cgroup-controllers"
done

# Scratch disk (ext4, made on the host) for /tmp: overlay upper dirs, images, registries.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
# noinit_itable: the disk is a fresh sparse file (zeroes), no inode tables to zero in the background
mount -t ext4 -o noatime,noinit_itable /dev/vda /scratch || die "cannot mount the scratch disk"
mkdir -p /scratch/tmp /scratch/var-tmp /scratch/var-lib-mydocker /scratch/target-tmp
chmod 1777 /scratch/tmp /scratch/var-tmp
mount --bind /scratch/tmp /tmp
mount --bind /scratch/var-tmp /var/tmp
mkdir -p /var/lib/mydocker
mount --bind /scratch/var-lib-mydocker /var/lib/mydocker

# The workspace (and target dir), read-only at the host's absolute paths, so the paths
# compiled into the test binaries (CARGO_BIN_EXE_*, CARGO_MANIFEST_DIR) work unchanged.
while read -r tag path; do
    mkdir -p "$path"
    mount -t 9p -o "trans=virtio,version=9p2000.L,msize=262144,cache=loose,ro" "$tag" "$path" ||
        die "cannot mount share $tag at $path"
done <"$OUT/shares"
# CARGO_TARGET_TMPDIR must stay writable.
if [ -n "$TARGET_TMPDIR" ] && [ -d "$TARGET_TMPDIR" ]; then
    mount --bind /scratch/target-tmp "$TARGET_TMPDIR"
fi

ip link set lo up
mark ready

# Environment checks: what the root integration tests rely on.
check() { # name command...
    name=$1
    shift
    read -r t0 _ </proc/uptime
    if out=$("$@" 2>&1); then
        read -r t1 _ </proc/uptime
        echo "ok $name ($t0..$t1)" >>"$OUT/preflight"
    else
        echo "FAIL $name: $(echo "$out" | tr '\n' ' ')" >>"$OUT/preflight"
    fi
}
check_modules() { [ -z "$modfail" ] || { echo "insmod failed:$modfail"; return 1; }; }
check_overlay() {
    d=/tmp/.vmtest-preflight/ovl
    mkdir -p $d/l $d/u $d/w $d/m && echo hi >$d/l/f &&
        mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" $d/m &&
        grep -q hi $d/m/f && echo new >$d/m/g && umount $d/m && [ -f $d/u/g ]
}
check_pivot_root() {
    unshare -m sh -c 'd=/tmp/.vmtest-preflight/pivot; mkdir -p $d && mount -t tmpfs t $d &&
        mkdir $d/old && cd $d && pivot_root . old'
}
# One process per tool: each start costs under TCG.
check_veth_bridge() {
    printf '%s\n' 'link add vmtpf0 type veth peer name vmtpf1' 'link add vmtpfbr type bridge' \
        'link set vmtpf0 master vmtpfbr' 'link del vmtpf0' 'link del vmtpfbr' | ip -batch -
}
check_nft_nat() { # a NAT chain and a masquerade rule: the nft modules load on demand
    printf '%s\n' 'add table inet vmtest_pf' \
        'add chain inet vmtest_pf post { type nat hook postrouting priority 100; }' \
        'add rule inet vmtest_pf post ip saddr 10.99.0.0/24 masquerade' \
        'delete table inet vmtest_pf' | nft -f -
}
check_netns() { unshare -n ip link show lo; }
# The registry (a big Go program, slow to start under TCG) starts first and is polled last.
reg=/tmp/.vmtest-preflight/registry
mkdir -p $reg/data
printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:5999\n' \
    "$reg/data" >$reg/config.yml
docker-registry serve $reg/config.yml >$reg/log 2>&1 &
reg_pid=$!
check_registry() {
    i=0
    while [ $i -lt 150 ]; do
        if wget -q -O /dev/null http://127.0.0.1:5999/v2/ 2>/dev/null; then
            kill $reg_pid
            wait $reg_pid 2>/dev/null
            return 0
        fi
        sleep 0.2
        i=$((i + 1))
    done
    kill $reg_pid
    cat $reg/log
    return 1
}
check modules check_modules
check overlay check_overlay
check pivot_root check_pivot_root
check veth+bridge check_veth_bridge
check nft-nat check_nft_nat
check netns check_netns
check registry check_registry
rm -rf /tmp/.vmtest-preflight
mark preflight

# The payload: the workspace's test binaries, one at a time, each in its package directory
# and bounded by $TEST_TIMEOUT seconds.
export HOME=/root TMPDIR=/tmp LANG=C.UTF-8 RUST_BACKTRACE=1 MYDOCKER_VMTEST=1
export MYDOCKER_VMTEST_CGROUP="$LAYOUT"
mkdir -p "$OUT/tests"
run_test() { # id manifest_dir exe [libtest args...]
    id=$1 dir=$2 exe=$3
    shift 3
    echo "vmtest: $id"
    read -r t0 _ </proc/uptime
    # A suite that outlives its limit by a minute was not ended by the KILL: a task stuck
    # in the kernel (or I/O of the 9p shares that stopped). Say so on the console with
    # the kernel's view of blocked tasks and of every CPU, for the host to show.
    # Its sleep goes with it: TERM while waiting runs the trap.
    (
        sleep $((TEST_TIMEOUT + 60)) &
        nap=$!
        trap 'kill "$nap" 2>/dev/null; exit 0' TERM
        wait "$nap" || exit 0
        echo "vmtest: HUNG: $id outlived its ${TEST_TIMEOUT}s limit; blocked tasks and CPUs:"
        echo 8 >/proc/sys/kernel/printk
        echo w >/proc/sysrq-trigger
        echo l >/proc/sysrq-trigger
    ) </dev/null &
    watchdog=$!
    (cd "$dir" && export CARGO_MANIFEST_DIR="$dir" && exec timeout -s KILL "$TEST_TIMEOUT" \
        "$exe" --test-threads="$THREADS" --show-output "$@") >"$OUT/tests/$id.log" 2>&1 </dev/null
    rc=$?
    kill "$watchdog" 2>/dev/null
    read -r t1 _ </proc/uptime
    echo "$id $rc $t0 $t1" >>"$OUT/status"
}
mark payload-start
# shellcheck disable=SC1091
. "$OUT/payload.sh"
mark payload-end

code=0
grep -q -v ' 0 [^ ]* [^ ]*$' "$OUT/status" 2>/dev/null && code=1
grep -q '^FAIL' "$OUT/preflight" && code=2
sync
echo "VMTEST-EXIT $code" >/dev/ttyS1
echo "vmtest: done, exit $code"
umount /var/lib/mydocker /var/tmp /tmp 2>/dev/null
umount /scratch 2>/dev/null
poweroff -f
