#!/bin/sh
# ceph-s3.sh - the set-up steps of a throw-away Ceph cluster serving S3 for
# the tests (Ceph's radosgw, see PEERS.md). tests/peer-ceph.c runs the
# daemons (ceph-mon, ceph-osd, radosgw, in the foreground, killed with the
# test); this script makes their files, in the order:
#   ceph-s3.sh conf DIR MON_PORT RGW_PORT  DIR/ceph.conf and the monitor's store
#   ceph-s3.sh osd DIR                     OSD 0 registered and its store made
#                                          (the monitor runs)
#   ceph-s3.sh user DIR ACCESS SECRET      the S3 user (monitor and OSD run)
# Everything stays in DIR and on 127.0.0.1: one monitor, one OSD in memory
# (memstore), no manager, no authentication inside the cluster.
set -eu
cmd=$1 dir=$2
conf=$dir/ceph.conf
case $cmd in
conf)
	mon_port=$3 rgw_port=$4
	fsid=$(cat /proc/sys/kernel/random/uuid)
	mkdir -p "$dir/mon" "$dir/osd"
	cat > "$conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
# without it radosgw waits 5 minutes on an auth error -13
ms mon client mode = crc secure
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
osd objectstore = memstore
osd max object name len = 460
osd max object namespace len = 64
# the monitor commits changes (a new pool, an OSD up) at once, not after 1 s:
# the cluster is ready in about 3 s instead of 12
paxos propose interval = 0.05
paxos min wait = 0.01
# a full disk elsewhere on the machine must not stop the test's monitor
mon data avail crit = 0
client mount timeout = 60
run dir = $dir
admin socket =
log file = $dir/\$name.log
pid file = $dir/\$name.pid
keyring = $dir/keyring
mon data = $dir/mon
osd data = $dir/osd
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
CONF
	monmaptool --create --fsid "$fsid" --add a "v2:127.0.0.1:$mon_port" "$dir/monmap" >/dev/null
	ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap"
	;;
osd)
	uuid=$(cat /proc/sys/kernel/random/uuid)
	timeout 60 ceph -c "$conf" osd new "$uuid" 0 >/dev/null
	ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid"
	;;
user)
	timeout 90 radosgw-admin -c "$conf" user create --uid genbox-test \
		--display-name "genbox tests" --access-key "$3" --secret-key "$4" >/dev/null
	;;
*)
	echo "usage: ceph-s3.sh conf|osd|user DIR ..." >&2
	exit 2
	;;
esac
