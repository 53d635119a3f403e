#!/usr/bin/env bash
# s3-local.sh - a real S3-compatible server (Ceph RADOS Gateway, Debian's Ceph 16.2
# Pacific) on loopback only, for ftx's S3 tests (`npm run test:s3`), the bench and CI.
# Adapted from ../shared/s3/s3-local.sh (measured there: ~45 s from nothing, ~6 s warm).
#
# It runs a throw-away single-node Ceph cluster: one ceph-mon, one ceph-osd
# (BlueStore on a sparse 20 GiB file by default; or memstore = object data in the
# OSD's RAM), and one radosgw with the beast frontend. Every address is 127.0.0.1;
# all state is under $FTX_S3_DIR (default /tmp/ftx-s3-store). No ceph-mgr (RGW does
# not need it; `ceph -s` then shows HEALTH_WARN "no active mgr" and no PG stats).
#
# Usage: s3-local.sh start|stop|status|env|reset|install
#   start    install the Debian packages if missing, create the cluster if
#            $FTX_S3_DIR has none, start the daemons, create the S3 user, print
#            endpoint + credentials (also written to $FTX_S3_DIR/env).
#   stop     stop the daemons (by the PIDs in their pid files); data is kept
#            (memstore saves its contents to disk only on a clean OSD shutdown;
#            after an unclean one, start recreates the cluster empty).
#   status   exit 0 if all daemons run and the S3 endpoint answers, else 1.
#   env      print shell exports (eval "$(s3-local.sh env)").
#   reset    stop, then delete $FTX_S3_DIR.
#   install  only apt-get install the packages.
#
# Settings (environment variables):
#   FTX_S3_DIR        state directory           (default /tmp/ftx-s3-store)
#   FTX_S3_PORT       S3 (radosgw) port          (default 7480)
#   FTX_S3_MON_PORT   ceph-mon msgr2 port        (default 3300)
#   FTX_S3_STORE      bluestore | memstore       (default bluestore; read from the
#                     existing ceph.conf once the cluster exists)
#   FTX_S3_MEM_BYTES  memstore capacity, bytes   (default 4 GiB; it is RAM)
#   FTX_S3_BLOCK_BYTES bluestore sparse file size (default 20 GiB)
#   FTX_S3_ACCESS_KEY / FTX_S3_SECRET_KEY        (default ftx-access / ftx-secret-key)
#   FTX_S3_BUCKET     if set, this bucket is created on start
set -euo pipefail

BASE=${FTX_S3_DIR:-/tmp/ftx-s3-store}
RGW_PORT=${FTX_S3_PORT:-7480}
MON_PORT=${FTX_S3_MON_PORT:-3300}
STORE=${FTX_S3_STORE:-bluestore}
MEM_BYTES=${FTX_S3_MEM_BYTES:-4294967296}
BLOCK_BYTES=${FTX_S3_BLOCK_BYTES:-21474836480}
ACCESS_KEY=${FTX_S3_ACCESS_KEY:-ftx-access}
SECRET_KEY=${FTX_S3_SECRET_KEY:-ftx-secret-key}
BUCKET=${FTX_S3_BUCKET:-}
REGION=us-east-1   # RGW accepts any region in SigV4; "default" zonegroup's api_name is empty
CONF=$BASE/ceph.conf
if [[ -f $CONF ]]; then   # an existing cluster keeps the store it was made with
  STORE=$(awk -F' = ' '$1 == "osd objectstore" {print $2}' "$CONF")
fi
ENDPOINT=http://127.0.0.1:$RGW_PORT
DAEMONS=(mon.a osd.0 client.rgw.ftx)   # start order; stop is reversed
PKGS=(ceph-mon ceph-osd radosgw)

log() { printf '[s3-local] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
ceph_() { timeout 60 ceph -c "$CONF" "$@"; }

pidfile() { echo "$BASE/run/$1.pid"; }
pid_of() { local f; f=$(pidfile "$1"); [[ -s $f ]] && cat "$f" || true; }
running() {   # running PID -> 0 if the process exists and is not a zombie
  [[ -n $1 ]] && kill -0 "$1" 2>/dev/null && ! awk '{exit !($3 == "Z" || $3 == "X")}' "/proc/$1/stat" 2>/dev/null
}
alive() {   # alive NAME -> 0 if the pid in its pid file is a running ceph daemon
  local p; p=$(pid_of "$1")
  running "$p" && grep -qE 'ceph-mon|ceph-osd|radosgw' "/proc/$p/comm" 2>/dev/null
}
port_free() {   # port_free PORT WHO -> die if something already listens on 127.0.0.1:PORT
  if ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; then
    die "port $1 (for $2) is already in use: stop that, or set FTX_S3_PORT / FTX_S3_MON_PORT"
  fi
}
http_ok() { curl -s -o /dev/null -m 3 -w '%{http_code}' "$ENDPOINT/" 2>/dev/null | grep -qE '^(200|403)$'; }

wait_for() {   # wait_for SECONDS DESCRIPTION CMD...
  local secs=$1 what=$2; shift 2
  local t0=$SECONDS
  until "$@" >/dev/null 2>&1; do
    (( SECONDS - t0 >= secs )) && die "timed out after ${secs}s waiting for $what (logs: $BASE/log)"
    sleep 0.5
  done
}

do_install() {
  local missing=()
  command -v ceph-mon >/dev/null || missing+=(ceph-mon)
  command -v ceph-osd >/dev/null || missing+=(ceph-osd)
  command -v radosgw  >/dev/null || missing+=(radosgw)
  if (( ${#missing[@]} )); then
    log "installing ${PKGS[*]} from Debian (about 60 MB download)"
    local sudo=; (( EUID == 0 )) || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
  fi
}

write_conf() {
  local fsid=$1
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$MON_PORT
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
# radosgw defaults ms_mon_client_mode to "secure", which needs cephx keys
ms mon client mode = crc
run dir = $BASE/run
admin socket = $BASE/run/\$name.asok
pid file = $BASE/run/\$name.pid
log file = $BASE/log/\$name.log
crash dir = $BASE/crash
err to stderr = false
log to stderr = false
# a one-OSD cluster: one replica, failure domain = osd, few PGs
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
osd objectstore = $STORE

[mon]
mon data = $BASE/mon/\$id

[osd]
osd data = $BASE/osd/\$id
osd crush update on start = true
# a clean shutdown must unmount the store: memstore saves its contents only then
osd fast shutdown = false
memstore device bytes = $MEM_BYTES
bluestore block path = $BASE/osd/\$id.block
bluestore block size = $BLOCK_BYTES
bluestore block create = true
osd memory target = 1073741824
bluestore cache autotune = true

[client.rgw.ftx]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw data = $BASE/rgw
rgw enable usage log = false
rgw thread pool size = 64
rgw init timeout = 90
# free the RADOS data of deleted/overwritten objects after ~1 min instead of 2 h
# (until then it still counts: with memstore it is RAM, and a full OSD makes
# every write hang)
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw gc processor max time = 30
EOF
}

bootstrap() {
  log "creating a new single-node Ceph cluster in $BASE (store: $STORE)"
  rm -rf "$BASE"
  mkdir -p "$BASE"/{mon,osd,run,log,crash,rgw}
  local fsid osd_uuid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid"
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT]" "$BASE/monmap" >/dev/null
  ceph-mon -c "$CONF" -i a --mkfs --monmap "$BASE/monmap" >"$BASE/log/mkfs-mon.log" 2>&1 \
    || die "ceph-mon --mkfs failed: $(tail -3 "$BASE/log/mkfs-mon.log")"
  start_daemon mon.a
  local id; id=$(ceph_ osd new "$osd_uuid") || die "ceph osd new failed"
  [[ $id == 0 ]] || die "unexpected OSD id $id"
  mkdir -p "$BASE/osd/0"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$BASE/log/mkfs-osd.log" 2>&1 \
    || die "ceph-osd --mkfs failed: $(tail -3 "$BASE/log/mkfs-osd.log")"
  start_daemon osd.0
  # The S3 user (radosgw-admin creates the RGW pools if they are missing).
  timeout 120 radosgw-admin -c "$CONF" user create --uid=ftx --display-name="ftx test user" \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >"$BASE/log/user-create.json" 2>"$BASE/log/user-create.err" \
    || die "radosgw-admin user create failed: $(tail -3 "$BASE/log/user-create.err")"
  touch "$BASE/.bootstrapped"
}

start_daemon() {
  local name=$1
  alive "$name" && return 0
  case $name in
    mon.a)
      port_free "$MON_PORT" ceph-mon
      ceph-mon -c "$CONF" -i a
      wait_for 60 "ceph-mon" ceph_ mon stat
      ;;
    osd.0)
      ceph-osd -c "$CONF" -i 0
      wait_for 120 "osd.0 up" bash -c "ceph -c '$CONF' osd dump 2>/dev/null | grep -q '^osd.0 up'"
      ;;
    client.rgw.ftx)
      port_free "$RGW_PORT" radosgw
      radosgw -c "$CONF" -n client.rgw.ftx
      wait_for 120 "radosgw on $ENDPOINT" http_ok
      ;;
  esac
  alive "$name" || die "$name did not stay up (see $BASE/log/$name.log)"
}

write_env() {
  cat >"$BASE/env" <<EOF
export FTX_S3_ENDPOINT=$ENDPOINT
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=$REGION
export AWS_ENDPOINT_URL=$ENDPOINT
export AWS_ENDPOINT_URL_S3=$ENDPOINT
# Pacific RGW cannot take the SDK's default aws-chunked uploads with a CRC32 trailer
# (streamed PutObject -> 411 MissingContentLength); AWS SDK JS v3 reads these:
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required
export AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
EOF
}

do_start() {
  do_install
  local t0=$SECONDS
  mkdir -p "$BASE"
  if [[ -f $BASE/.bootstrapped && $STORE == memstore && ! -f $BASE/.clean-stop ]] && ! alive osd.0; then
    # memstore keeps data in RAM and saves it only on a clean OSD shutdown
    log "the OSD was not stopped cleanly, so its memstore contents are gone: recreating the cluster"
    do_stop
    rm -f "$BASE/.bootstrapped"
  fi
  if [[ ! -f $BASE/.bootstrapped ]]; then
    bootstrap
  else
    local d; for d in "${DAEMONS[@]:0:2}"; do start_daemon "$d"; done
  fi
  rm -f "$BASE/.clean-stop"
  start_daemon client.rgw.ftx
  write_env
  if [[ -n $BUCKET ]]; then
    # create the bucket through S3 itself, with the same SigV4 credentials a client uses
    local code
    # (RGW requires x-amz-content-sha256; curl 7.88 does not add it by itself)
    code=$(curl -s -m 60 -o /dev/null -w '%{http_code}' -X PUT --aws-sigv4 "aws:amz:$REGION:s3" \
      --user "$ACCESS_KEY:$SECRET_KEY" \
      -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
      "$ENDPOINT/$BUCKET")
    [[ $code == 200 || $code == 409 ]] || die "creating bucket $BUCKET: HTTP $code"
  fi
  log "up in $((SECONDS - t0))s"
  echo "endpoint:   $ENDPOINT   (path-style: forcePathStyle: true)"
  echo "access key: $ACCESS_KEY"
  echo "secret key: $SECRET_KEY"
  echo "region:     $REGION (any value is accepted)"
  [[ -n $BUCKET ]] && echo "bucket:     $BUCKET"
  echo "env file:   $BASE/env   (source it: . $BASE/env)"
}

do_stop() {
  local i name p n
  for (( i=${#DAEMONS[@]}-1; i>=0; i-- )); do
    name=${DAEMONS[i]}
    alive "$name" || continue
    p=$(pid_of "$name")
    kill -TERM "$p" 2>/dev/null || true
    for (( n=0; n<60; n++ )); do running "$p" || break; sleep 0.5; done
    if running "$p"; then
      log "$name (pid $p) ignored SIGTERM for 30s; sending SIGKILL"
      kill -KILL "$p" 2>/dev/null || true
      [[ $name == osd.0 ]] && rm -f "$BASE/.clean-stop"
    elif [[ $name == osd.0 ]]; then
      touch "$BASE/.clean-stop"
    fi
    rm -f "$(pidfile "$name")"
    log "stopped $name (pid $p)"
  done
}

do_status() {
  local ok=0 name
  for name in "${DAEMONS[@]}"; do
    if alive "$name"; then
      printf '%-16s running  pid %-7s rss %s KiB\n' "$name" "$(pid_of "$name")" \
        "$(awk '/^VmRSS/{print $2}' "/proc/$(pid_of "$name")/status")"
    else
      printf '%-16s stopped\n' "$name"; ok=1
    fi
  done
  if http_ok; then echo "S3 endpoint $ENDPOINT answers"; else echo "S3 endpoint $ENDPOINT does not answer"; ok=1; fi
  return $ok
}

case ${1:-} in
  start)   do_start ;;
  stop)    do_stop ;;
  status)  do_status ;;
  env)     [[ -f $BASE/env ]] || write_env; cat "$BASE/env" ;;
  reset)   do_stop; rm -rf "$BASE"; log "removed $BASE" ;;
  install) do_install ;;
  *) echo "usage: $0 start|stop|status|env|reset|install" >&2; exit 2 ;;
esac
