#!/usr/bin/env bash
# Installs, starts and stops the real components downpour runs against:
# ClickHouse (Debian's clickhouse-server package) and the tansu Kafka broker
# (crates.io, built once and cached). Everything is idempotent:
#
#   scripts/components.sh install   # apt + cargo install, skipped when present
#   scripts/components.sh sdk       # the real Raindrop Python SDK in a cached venv (tests)
#   scripts/components.sh chdb      # current ClickHouse embedded (chdb-core) in a cached venv (tests)
#   scripts/components.sh browser   # Debian's chromium + chromium-driver, and the pinned browser
#                                   # SDK (npm pack, cached) for the headless browser test
#   scripts/components.sh clients   # the pinned JS clients of tests/clients (npm ci, cached);
#                                   # prints their directory
#   scripts/components.sh start     # start both on free loopback ports (reuses running ones)
#   scripts/components.sh stop      # stop what `start` started
#   scripts/components.sh env       # print the DOWNPOUR_* variables for the running pair
#   scripts/components.sh stop-broker | start-broker | stop-clickhouse | start-clickhouse
#                                   # one component down / back up, same port, same data (chaos)
#   scripts/components.sh start-cluster | stop-cluster  # ZooKeeper + 2 shards x 2 replicas
#                                   # of ClickHouse 18.16 (issue 14); stop-replica S R /
#                                   # kill-replica S R (SIGKILL) / start-replica S R take
#                                   # one server (shard 1|2, replica r1|r2) down / back up
#   scripts/components.sh start-secure  # a second broker that requires SASL/SCRAM, behind
#                                   # a TLS terminator (tansu 0.6 takes --cert but serves
#                                   # plain TCP), and ClickHouse's HTTPS port; writes
#                                   # $DOWNPOUR_RUN_DIR/secure.env (the tests' addresses,
#                                   # user, password, CA)
#
# State (data, logs, pids, ports, the env file) lives under $DOWNPOUR_RUN_DIR,
# default `.run/` in the repository, which git ignores. `start-*` after
# `stop-*` reuses the component's recorded port and data (`stop` forgets the
# ports). The broker
# keeps its data in memory unless DOWNPOUR_TANSU_STORAGE names a durable
# engine: `sqlite://tansu.db` (a file in $DOWNPOUR_RUN_DIR/tansu/) survives a restart.
# DOWNPOUR_CLICKHOUSE_CONFIG names another server config.xml (the chaos test's
# "too many parts" uses a copy with low merge_tree limits).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=${DOWNPOUR_RUN_DIR:-$ROOT/.run}
CACHE=${DOWNPOUR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/downpour}
TANSU_VERSION=0.6.0
TANSU_BIN=$CACHE/tansu-$TANSU_VERSION/bin/tansu
CH_CONFIG=${DOWNPOUR_CLICKHOUSE_CONFIG:-/etc/clickhouse-server/config.xml}

log() { echo "components: $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The port recorded in file $1, or a free one recorded there now: a component
# restarted in the same run dir comes back where its clients look for it.
port_of() {
  if [ ! -s "$1" ]; then free_port >"$1"; fi
  cat "$1"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install() {
  # openssl (certificates), socat (the broker's TLS terminator), and the
  # headers rdkafka's `ssl` feature and native-tls build against.
  local want=() pkg
  for pkg in openssl socat libssl-dev pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || want+=("$pkg")
  done
  if [ ${#want[@]} -gt 0 ]; then
    log "installing ${want[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${want[@]}" >/dev/null
  fi
  if ! command -v clickhouse-server >/dev/null; then
    log "installing clickhouse-server (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
  fi
  if [ ! -x "$TANSU_BIN" ]; then
    log "building tansu $TANSU_VERSION (cached in $CACHE; ~10 min cold)"
    cargo install tansu --version "$TANSU_VERSION" --locked \
      --features dynostore,libsql --root "$CACHE/tansu-$TANSU_VERSION" >&2
  fi
}

# Python packages the tests use, each in a cached venv of its own:
# the real Raindrop SDK (tests/it/python_sdk.rs) and current ClickHouse embedded
# as chdb-core (tests/it/current_clickhouse.rs; ~180 MB wheel, no server).
SDK_VERSION=0.0.75
CHDB_VERSION=26.9.0

venv() { # name package version [import]
  local dir=$CACHE/venv-$1 package=$2 version=$3 import=${4:-}
  if [ -x "$dir/bin/python" ] && "$dir/bin/python" - <<PYEOF 2>/dev/null
import importlib.metadata as m, sys
${import:+import $import}
sys.exit(0 if m.version("$package") == "$version" else 1)
PYEOF
  then return; fi
  log "installing $package $version into $dir"
  python3 -m venv "$dir"
  # pip 23.2's resolver gives up on the SDK's tracing dependencies; a current pip does not.
  "$dir/bin/pip" install -q -U pip >&2
  "$dir/bin/pip" install -q "$package==$version" >&2
}

sdk() { venv sdk raindrop-ai "$SDK_VERSION"; }

# The browser test's pieces: a real Chromium driven over WebDriver, and the
# published browser SDK exactly as npm ships it (unpacked, never rebuilt).
BROWSER_SDK_VERSION=0.0.2
browser() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    log "installing chromium and chromium-driver (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
  local dir=$CACHE/npm/browser-sdk-$BROWSER_SDK_VERSION
  if [ ! -s "$dir/package/dist/index.js" ]; then
    log "fetching @raindrop-ai/browser-sdk $BROWSER_SDK_VERSION into $dir"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "@raindrop-ai/browser-sdk@$BROWSER_SDK_VERSION" >/dev/null &&
      tar xzf raindrop-ai-browser-sdk-$BROWSER_SDK_VERSION.tgz)
  fi
}
chdb() { venv chdb chdb-core "$CHDB_VERSION" chdb; }

# Raindrop's published JS clients (the TS SDK, the AI SDK integration and
# `ai`), pinned by tests/clients/package-lock.json and installed with
# `npm ci` into a cache directory named after the lock file's hash.
clients() {
  local lock=tests/clients/package-lock.json
  local dir=$CACHE/npm/clients-$(sha256sum "$lock" | cut -c1-16)
  if [ ! -f "$dir/.installed" ]; then
    log "installing the JS clients of tests/clients into $dir"
    rm -rf "$dir" && mkdir -p "$dir"
    cp tests/clients/package.json "$lock" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$dir/.installed"
  fi
  echo "$dir"
}

wait_for() { # name deadline_s command...
  local name=$1 deadline=$(( $(date +%s) + $2 )); shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then log "$name did not come up"; return 1; fi
    sleep 0.2
  done
}

start_clickhouse() {
  local dir=$RUN_DIR/clickhouse
  if alive "$dir/pid"; then return; fi
  mkdir -p "$dir/data/" "$dir/tmp/" "$dir/log" "$dir/user_files/" "$dir/format_schemas/"
  local http tcp inter https
  http=$(port_of "$dir/http_port"); tcp=$(port_of "$dir/tcp_port"); inter=$(port_of "$dir/inter_port")
  https=$(port_of "$dir/https_port")
  tls
  # 18.16 reads its users and settings from config.xml's directory; only paths
  # and ports are overridden, so nothing outside $dir is written.
  nohup clickhouse-server --config-file="$CH_CONFIG" -- \
    --path="$dir/data/" --tmp_path="$dir/tmp/" \
    --user_files_path="$dir/user_files/" --format_schema_path="$dir/format_schemas/" \
    --http_port="$http" --tcp_port="$tcp" --interserver_http_port="$inter" \
    --listen_host=127.0.0.1 \
    --https_port="$https" --openSSL.server.certificateFile="$RUN_DIR/tls/server.pem" \
    --openSSL.server.privateKeyFile="$RUN_DIR/tls/server.key" --openSSL.server.dhParamsFile= \
    --logger.log="$dir/log/server.log" --logger.errorlog="$dir/log/error.log" \
    >"$dir/log/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_for clickhouse 60 curl -sf "http://127.0.0.1:$http/ping"
  log "clickhouse $(curl -s "http://127.0.0.1:$http/?query=SELECT%20version()") on http://127.0.0.1:$http"
}

# A CA and a server certificate for 127.0.0.1 / localhost signed by it,
# made once per run dir (the HTTPS and TLS endpoints' identity in tests).
tls() {
  local dir=$RUN_DIR/tls
  if [ -s "$dir/server.pem" ] && [ -s "$dir/ca.pem" ]; then return; fi
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=downpour test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 3650 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
  chmod 600 "$dir/ca.key" "$dir/server.key"
}

# The secure broker: tansu with --authentication (SASL; SCRAM-SHA-512
# credentials in its sqlite storage) on a loopback port nobody but the
# terminator uses, advertised at the TLS port socat serves. The user is
# created once, with authentication off (tansu's `user create` speaks
# AlterUserScramCredentials, which an authenticating broker refuses first).
start_secure_broker() {
  local dir=$RUN_DIR/secure-tansu
  mkdir -p "$dir"
  tls
  local plain tls_port
  plain=$(port_of "$dir/port"); tls_port=$(port_of "$dir/tls_port")
  if ! alive "$dir/pid"; then
    if [ ! -s "$dir/password" ]; then
      # The setup broker (no authentication) has a pid file of its own and is
      # always stopped, so a failed setup never leaves it serving.
      rm -f "$dir/tansu.db"*
      (cd "$dir" && exec nohup "$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$plain" \
        --advertised-listener-url "tcp://127.0.0.1:$plain" \
        --storage-engine sqlite://tansu.db >"$dir/setup.log" 2>&1) &
      echo $! >"$dir/setup.pid"
      local password created=0
      password=$(openssl rand -hex 16)
      # (On the command line: a test credential on loopback, made per run dir.)
      if wait_for secure-tansu-setup 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$plain" &&
        "$TANSU_BIN" user create --broker "tcp://127.0.0.1:$plain" downpour "$password" \
          --mechanism scram512 >>"$dir/setup.log" 2>&1; then
        created=1
      fi
      stop_one secure-tansu setup.pid
      if [ "$created" != 1 ]; then
        log "secure broker: creating the SCRAM user failed (see $dir/setup.log)"
        return 1
      fi
      (umask 077; echo "$password" >"$dir/password")
    fi
    (cd "$dir" && exec nohup "$TANSU_BIN" broker --authentication \
      --listener-url "tcp://127.0.0.1:$plain" \
      --advertised-listener-url "tcp://127.0.0.1:$tls_port" \
      --storage-engine sqlite://tansu.db >"$dir/broker.log" 2>&1) &
    echo $! >"$dir/pid"
    wait_for secure-tansu 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$plain"
  fi
  if ! alive "$dir/socat.pid"; then
    nohup socat "OPENSSL-LISTEN:$tls_port,bind=127.0.0.1,reuseaddr,fork,cert=$RUN_DIR/tls/server.pem,key=$RUN_DIR/tls/server.key,verify=0" \
      "TCP:127.0.0.1:$plain" >"$dir/socat.log" 2>&1 &
    echo $! >"$dir/socat.pid"
    wait_for socat 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$tls_port"
  fi
  (umask 077; cat >"$RUN_DIR/secure.env") <<ENV
export DOWNPOUR_TEST_SECURE_BROKERS=127.0.0.1:$tls_port
export DOWNPOUR_TEST_SECURE_USER=downpour
export DOWNPOUR_TEST_SECURE_PASSWORD=$(cat "$dir/password")
export DOWNPOUR_TEST_TLS_CA=$RUN_DIR/tls/ca.pem
export DOWNPOUR_TEST_CLICKHOUSE_HTTPS_URL=https://127.0.0.1:$(cat "$RUN_DIR/clickhouse/https_port")
ENV
  log "secure broker: SASL/SCRAM-SHA-512 over TLS on 127.0.0.1:$tls_port; clickhouse https on $(cat "$RUN_DIR/clickhouse/https_port")"
}

start_tansu() {
  local dir=$RUN_DIR/tansu
  if alive "$dir/pid"; then return; fi
  mkdir -p "$dir"
  local port storage
  port=$(port_of "$dir/port")
  storage=${DOWNPOUR_TANSU_STORAGE:-memory://tansu/}
  # From its own directory: tansu reads `sqlite://FILE` relative to the cwd.
  (cd "$dir" && exec nohup "$TANSU_BIN" broker \
    --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine "$storage" >"$dir/broker.log" 2>&1) &
  echo $! >"$dir/pid"
  wait_for tansu 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
  log "tansu on 127.0.0.1:$port ($storage)"
}

# The ClickHouse cluster (issue 14, part 1): ZooKeeper (Debian's package,
# standalone) and 2 shards x 2 replicas of ClickHouse 18.16 on loopback ports,
# under $RUN_DIR/cluster. Each server runs from its own copy of config.xml and
# users.xml with a config.d naming the cluster `downpour`, the ZooKeeper node
# and its macros ({shard} 1|2, {replica} r1|r2), so replicated tables share
# one ZooKeeper path per shard. $RUN_DIR/cluster/env lists the servers.
CLUSTER_SHARDS="1 2" CLUSTER_REPLICAS="r1 r2"
cluster_install() {
  if [ ! -s /usr/share/java/zookeeper.jar ]; then
    log "installing zookeeper (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq zookeeper >/dev/null
  fi
}
start_zookeeper() {
  local dir=$RUN_DIR/cluster/zookeeper port
  if alive "$dir/pid"; then return; fi
  mkdir -p "$dir/data"
  port=$(port_of "$dir/port")
  cat >"$dir/zoo.cfg" <<CFG
tickTime=500
initLimit=10
syncLimit=5
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
CFG
  (cd "$dir" && exec nohup java -Xmx256m -cp "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar" \
    -Dzookeeper.log.dir="$dir" org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" \
    >"$dir/zookeeper.log" 2>&1) &
  echo $! >"$dir/pid"
  # `srvr` names the mode only once the data is loaded and sessions are
  # served (`ruok` answers before: servers then fail their handshake).
  wait_for zookeeper 120 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; echo srvr >&3; grep -q Mode: <&3"
  log "zookeeper on 127.0.0.1:$port"
}
cluster_config() { # SHARD REPLICA: the server's config directory (ports allocated for all first)
  local dir=$RUN_DIR/cluster/s$1$2 s r
  mkdir -p "$dir/etc/config.d" "$dir/data" "$dir/tmp" "$dir/log" "$dir/user_files" "$dir/format_schemas"
  cp "$CH_CONFIG" "$dir/etc/config.xml"
  cp "$(dirname "$CH_CONFIG")/users.xml" "$dir/etc/users.xml"
  {
    echo "<yandex>"
    echo "  <zookeeper><node><host>127.0.0.1</host><port>$(cat "$RUN_DIR/cluster/zookeeper/port")</port></node></zookeeper>"
    echo "  <macros><shard>$1</shard><replica>$2</replica></macros>"
    echo "  <interserver_http_host>127.0.0.1</interserver_http_host>"
    echo "  <remote_servers><downpour>"
    for s in $CLUSTER_SHARDS; do
      echo "    <shard><internal_replication>true</internal_replication>"
      for r in $CLUSTER_REPLICAS; do
        echo "      <replica><host>127.0.0.1</host><port>$(cat "$RUN_DIR/cluster/s$s$r/tcp_port")</port></replica>"
      done
      echo "    </shard>"
    done
    echo "  </downpour></remote_servers>"
    echo "</yandex>"
  } >"$dir/etc/config.d/cluster.xml"
}
start_replica() { # SHARD REPLICA
  local dir=$RUN_DIR/cluster/s$1$2
  if alive "$dir/pid"; then return; fi
  cluster_config "$1" "$2"
  local http tcp inter
  http=$(cat "$dir/http_port"); tcp=$(cat "$dir/tcp_port"); inter=$(cat "$dir/inter_port")
  nohup clickhouse-server --config-file="$dir/etc/config.xml" -- \
    --path="$dir/data/" --tmp_path="$dir/tmp/" \
    --user_files_path="$dir/user_files/" --format_schema_path="$dir/format_schemas/" \
    --http_port="$http" --tcp_port="$tcp" --interserver_http_port="$inter" \
    --listen_host=127.0.0.1 \
    --logger.log="$dir/log/server.log" --logger.errorlog="$dir/log/error.log" \
    >"$dir/log/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_for "clickhouse shard $1 replica $2" 60 curl -sf "http://127.0.0.1:$http/ping"
}
start_cluster() {
  cluster_install
  mkdir -p "$RUN_DIR/cluster"
  start_zookeeper
  local s r dir urls="" shards="" shard
  for s in $CLUSTER_SHARDS; do
    for r in $CLUSTER_REPLICAS; do
      dir=$RUN_DIR/cluster/s$s$r
      mkdir -p "$dir"
      port_of "$dir/http_port" >/dev/null; port_of "$dir/tcp_port" >/dev/null; port_of "$dir/inter_port" >/dev/null
    done
  done
  for s in $CLUSTER_SHARDS; do
    shard=""
    for r in $CLUSTER_REPLICAS; do
      start_replica "$s" "$r"
      urls="$urls http://127.0.0.1:$(cat "$RUN_DIR/cluster/s$s$r/http_port")"
      shard="$shard,http://127.0.0.1:$(cat "$RUN_DIR/cluster/s$s$r/http_port")"
    done
    shards="$shards, \"${shard#,}\""
  done
  # The servers, and the shards as `clickhouse.shards` takes them
  # (DOWNPOUR_CLICKHOUSE_SHARDS, with DOWNPOUR_CLICKHOUSE_CLUSTER=downpour).
  {
    echo "export DOWNPOUR_TEST_CLUSTER_URLS=\"${urls# }\""
    echo "export DOWNPOUR_TEST_CLUSTER_SHARDS='[${shards#, }]'"
    echo "export DOWNPOUR_TEST_ZOOKEEPER=127.0.0.1:$(cat "$RUN_DIR/cluster/zookeeper/port")"
  } >"$RUN_DIR/cluster/env"
  log "cluster downpour: 2 shards x 2 replicas on${urls}"
}
stop_cluster() {
  local s r
  for s in $CLUSTER_SHARDS; do
    for r in $CLUSTER_REPLICAS; do stop_one "cluster/s$s$r"; done
  done
  stop_one cluster/zookeeper
}

write_env() {
  cat >"$RUN_DIR/env" <<ENV
export DOWNPOUR_KAFKA_BROKERS=127.0.0.1:$(cat "$RUN_DIR/tansu/port")
export DOWNPOUR_CLICKHOUSE_URL=http://127.0.0.1:$(cat "$RUN_DIR/clickhouse/http_port")
export DOWNPOUR_CLICKHOUSE_DATABASE=\${DOWNPOUR_CLICKHOUSE_DATABASE:-downpour}
ENV
}

start() {
  mkdir -p "$RUN_DIR"
  start_clickhouse
  start_tansu
  write_env
}

stop_one() { # tansu|clickhouse|secure-tansu [pid file name]
  local pidf=$RUN_DIR/$1/${2:-pid}
  if alive "$pidf"; then
    kill "$(cat "$pidf")" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pidf" || break; sleep 0.2; done
    alive "$pidf" && kill -9 "$(cat "$pidf")" 2>/dev/null || true
    log "stopped $1"
  fi
  rm -f "$pidf"
}

# A full stop forgets the ports, so the next `start` picks free ones again.
stop() {
  stop_one secure-tansu socat.pid
  stop_one secure-tansu setup.pid
  stop_one secure-tansu
  stop_one tansu
  stop_one clickhouse
  rm -f "$RUN_DIR/tansu/port" "$RUN_DIR/clickhouse/"{http,tcp,inter,https}_port \
    "$RUN_DIR/secure-tansu/"{port,tls_port} "$RUN_DIR/secure.env"
}

case "${1:-}" in
  install) install ;;
  sdk) sdk ;;
  chdb) chdb ;;
  browser) browser ;;
  clients) clients ;;
  start) start ;;
  stop) stop ;;
  env) cat "$RUN_DIR/env" ;;
  stop-broker) stop_one tansu ;;
  start-broker) mkdir -p "$RUN_DIR"; start_tansu ;;
  stop-clickhouse) stop_one clickhouse ;;
  start-clickhouse) mkdir -p "$RUN_DIR"; start_clickhouse ;;
  start-secure) mkdir -p "$RUN_DIR"; start_clickhouse; start_secure_broker ;;
  start-cluster) start_cluster ;;
  stop-cluster) stop_cluster ;;
  stop-replica) stop_one "cluster/s$2$3" ;;
  kill-replica) # SIGKILL, as a crashed server
    if alive "$RUN_DIR/cluster/s$2$3/pid"; then kill -9 "$(cat "$RUN_DIR/cluster/s$2$3/pid")"; fi
    rm -f "$RUN_DIR/cluster/s$2$3/pid" ;;
  start-replica) start_replica "$2" "$3" ;;
  *) echo "usage: $0 install|sdk|chdb|browser|clients|start|stop|env|stop-broker|start-broker|stop-clickhouse|start-clickhouse|start-secure|start-cluster|stop-cluster|stop-replica S R|kill-replica S R|start-replica S R" >&2; exit 2 ;;
esac
