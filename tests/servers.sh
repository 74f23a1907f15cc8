#!/usr/bin/env bash
# Throwaway PostgreSQL, Redis and RabbitMQ servers on 127.0.0.1 for the test suite.
#
#   bash tests/servers.sh start   # start them (a no-op when they already run)
#   bash tests/servers.sh stop    # stop them and delete their files
#
# `start` runs, from a new directory under ${TMPDIR:-/tmp}:
#   - a PostgreSQL cluster made by the Debian binaries (/usr/lib/postgresql/*/bin,
#     package `postgresql`): trust authentication on 127.0.0.1 only, except the role
#     `otel_errors_password_role`, which must give a password (the tests check a
#     failed login with it); no fsync, nothing kept;
#   - a Redis server (package `redis-server`) without persistence, and a second one
#     replicating it (writes to a replica fail with READONLY, which the tests check);
#   - a RabbitMQ node (package `rabbitmq-server`, run from /usr/lib/rabbitmq/bin as the
#     calling user) with no plugins: its node name, Erlang cookie ($HOME), epmd port,
#     distribution port, configuration, Mnesia and log directories are all its own,
#     so that several copies of this script (one per worktree) run side by side. It
#     takes about 10 s to accept AMQP, so it is started first and waited for last.
# Ports are free ones picked at start. PostgreSQL refuses to run as root, so as root
# the cluster runs as the user `postgres` (created, without a home or shell, when
# missing). The settings go to .test-servers.env in the repository root:
#   OTEL_ERRORS_TEST_POSTGRES_DSN=postgresql://postgres@127.0.0.1:PORT/postgres
#   OTEL_ERRORS_TEST_REDIS_URL=redis://127.0.0.1:PORT/0
#   OTEL_ERRORS_TEST_REDIS_REPLICA_URL=redis://127.0.0.1:PORT/0
#   OTEL_ERRORS_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:PORT/%2F
#   OTEL_ERRORS_TEST_RABBITMQCTL=DIR/rabbitmq/rabbitmqctl (rabbitmqctl for that node)
# Load them with `set -a; . ./.test-servers.env; set +a`.
set -euo pipefail
cd "$(dirname "$0")/.."

ENV_FILE=${OTEL_ERRORS_TEST_SERVERS_ENV:-$PWD/.test-servers.env}
WAIT_SECONDS=30
RABBITMQ_WAIT_SECONDS=90
RABBITMQ_BIN=/usr/lib/rabbitmq/bin
PG_SUPERUSER=postgres
PASSWORD_ROLE=otel_errors_password_role

die() {
  echo "tests/servers.sh: $*" >&2
  exit 1
}

pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] ||
    die "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin;" \
      "install them with: apt-get install postgresql"
  echo "$dir"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs a command as the owner of the PostgreSQL cluster.
as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$PG_OWNER" -- "$@"
  else
    "$@"
  fi
}

pg_owner() {
  if [ "$(id -u)" != 0 ]; then
    id -un
    return
  fi
  if ! id -u postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      postgres || die "cannot create the unprivileged user 'postgres' to run PostgreSQL"
  fi
  echo postgres
}

redis_ping() {
  [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

wait_for_redis() {
  local deadline=$((SECONDS + WAIT_SECONDS))
  until redis_ping "$1"; do
    [ $SECONDS -lt $deadline ] || die "Redis on port $1 did not answer within ${WAIT_SECONDS}s;" \
      "log: $2"
    sleep 0.1
  done
}

start_redis() { # port dir [extra redis-server arguments...]
  local port=$1 dir=$2
  shift 2
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir" \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@" >/dev/null ||
    die "redis-server failed to start on port $port; log: $dir/redis.log"
  wait_for_redis "$port" "$dir/redis.log"
}

# True when something speaks AMQP 0-9-1 on 127.0.0.1:$1 (the broker answers the protocol
# header with Connection.Start, a method frame: type 1).
amqp_ready() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
    s.settimeout(2)
    s.sendall(b"AMQP\x00\x00\x09\x01")
    sys.exit(0 if s.recv(1) == b"\x01" else 1)
PY
}

# Writes the node's files and starts it in the background (see wait_for_rabbitmq).
start_rabbitmq() { # dir amqp_port dist_port epmd_port node
  local dir=$1 port=$2 dist_port=$3 epmd_port=$4 node=$5
  mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
  # The Erlang cookie is made in $HOME on first start: ours, never the user's.
  cat >"$dir/env.sh" <<EOF
export HOME='$dir/home'
export RABBITMQ_CONF_ENV_FILE='$dir/rabbitmq-env.conf'
export RABBITMQ_CONFIG_FILE='$dir/rabbitmq.conf'
export RABBITMQ_ENABLED_PLUGINS_FILE='$dir/enabled_plugins'
export RABBITMQ_MNESIA_BASE='$dir/mnesia'
export RABBITMQ_LOG_BASE='$dir/log'
export RABBITMQ_NODENAME='$node'
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$port
export RABBITMQ_DIST_PORT=$dist_port
export ERL_EPMD_PORT=$epmd_port
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
EOF
  : >"$dir/rabbitmq-env.conf" # instead of the system's /etc/rabbitmq/rabbitmq-env.conf
  echo '[].' >"$dir/enabled_plugins"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$port
loopback_users.guest = true
EOF
  cat >"$dir/rabbitmqctl" <<EOF
#!/usr/bin/env bash
. '$dir/env.sh'
exec "$RABBITMQ_BIN/rabbitmqctl" -n '$node' "\$@"
EOF
  chmod 755 "$dir/rabbitmqctl"
  # In a session of its own, so that a Ctrl-C meant for the caller does not reach it.
  # The epmd the node starts (on its own ERL_EPMD_PORT) outlives it: see stop_rabbitmq.
  (
    # shellcheck disable=SC1091
    . "$dir/env.sh"
    setsid "$RABBITMQ_BIN/rabbitmq-server" >"$dir/server.out" 2>&1 </dev/null &
    echo $! >"$dir/server.pid"
  )
}

wait_for_rabbitmq() { # dir amqp_port
  local deadline=$((SECONDS + RABBITMQ_WAIT_SECONDS))
  until amqp_ready "$2"; do
    kill -0 "$(cat "$1/server.pid")" 2>/dev/null ||
      die "RabbitMQ exited before accepting AMQP on port $2; see $1/server.out and $1/log"
    [ $SECONDS -lt $deadline ] || die "RabbitMQ on port $2 did not accept AMQP within" \
      "${RABBITMQ_WAIT_SECONDS}s; see $1/server.out and $1/log"
    sleep 0.2
  done
}

stop_rabbitmq() { # dir
  local dir=$1 pid
  [ -f "$dir/env.sh" ] || return 0
  pid=$(cat "$dir/server.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    # rabbitmq-server stops the node on TERM and exits once it is down.
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + WAIT_SECONDS))
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then
        echo "tests/servers.sh: RabbitMQ (pid $pid) ignored TERM; killing its session" >&2
        kill -9 -- "-$pid" 2>/dev/null || true
        break
      fi
      sleep 0.1
    done
  fi
  # The node's epmd, asked on the node's own port (never another worktree's).
  (
    # shellcheck disable=SC1091
    . "$dir/env.sh"
    epmd -kill >/dev/null 2>&1 || true
  )
}

running() {
  [ -f "$ENV_FILE" ] || return 1
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  local pg_port=${OTEL_ERRORS_TEST_POSTGRES_DSN##*:}
  pg_port=${pg_port%%/*}
  "$OTEL_ERRORS_TEST_PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -t 2 &&
    redis_ping "$OTEL_ERRORS_TEST_REDIS_PORT" &&
    redis_ping "$OTEL_ERRORS_TEST_REDIS_REPLICA_PORT" &&
    [ -n "${OTEL_ERRORS_TEST_RABBITMQ_PORT:-}" ] && amqp_ready "$OTEL_ERRORS_TEST_RABBITMQ_PORT"
}

start() {
  if running; then
    echo "tests/servers.sh: servers already running ($ENV_FILE)"
    return
  fi
  [ -f "$ENV_FILE" ] && stop
  local bindir
  bindir=$(pg_bindir)
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
    die "redis-server not found; install it with: apt-get install redis-server"
  command -v python3 >/dev/null || die "python3 is needed to pick free ports"
  [ -x "$RABBITMQ_BIN/rabbitmq-server" ] ||
    die "RabbitMQ not found in $RABBITMQ_BIN; install it with: apt-get install rabbitmq-server"

  local base=${TMPDIR:-/tmp}
  local dir
  dir=$(mktemp -d "$base/otel-errors-servers.XXXXXX")
  chmod 755 "$dir"
  PG_OWNER=$(pg_owner)
  local pg_port redis_port replica_port rabbitmq_port
  pg_port=$(free_port)
  redis_port=$(free_port)
  replica_port=$(free_port)
  rabbitmq_port=$(free_port)
  # Written first, so that `stop` cleans up whatever a failed start left behind.
  write_env "$dir" "$bindir" "$pg_port" "$redis_port" "$replica_port" "$rabbitmq_port"

  # RabbitMQ first: it is the slowest to start; it is waited for at the end. The node
  # name comes from the directory's unique suffix.
  local rabbitmq_started=$SECONDS
  start_rabbitmq "$dir/rabbitmq" "$rabbitmq_port" "$(free_port)" "$(free_port)" \
    "otel-errors-${dir##*.}@localhost"

  mkdir -p "$dir/pg"
  chown "$PG_OWNER" "$dir/pg"
  as_pg_owner test -w "$dir/pg" ||
    die "user $PG_OWNER cannot write to $dir/pg; set TMPDIR to a directory it can reach"
  as_pg_owner "$bindir/initdb" -D "$dir/pg/data" -U "$PG_SUPERUSER" --auth=trust \
    --encoding=UTF8 --no-locale --no-sync >"$dir/pg/initdb.log" 2>&1 ||
    die "initdb failed; log: $dir/pg/initdb.log"
  cat >>"$dir/pg/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$dir/pg'
max_connections = 60
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  cat >"$dir/pg/data/pg_hba.conf" <<EOF
local all all trust
host all $PASSWORD_ROLE 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
EOF
  as_pg_owner "$bindir/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w \
    -t "$WAIT_SECONDS" start >/dev/null ||
    die "PostgreSQL did not start on port $pg_port within ${WAIT_SECONDS}s;" \
      "log: $dir/pg/server.log"

  start_redis "$redis_port" "$dir/redis"
  start_redis "$replica_port" "$dir/redis-replica" --replicaof 127.0.0.1 "$redis_port"
  wait_for_rabbitmq "$dir/rabbitmq" "$rabbitmq_port"
  echo "tests/servers.sh: PostgreSQL on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port" \
    "(replica on $replica_port), RabbitMQ on 127.0.0.1:$rabbitmq_port" \
    "(accepting AMQP $((SECONDS - rabbitmq_started)) s after its start); settings in $ENV_FILE"
}

write_env() { # dir bindir pg_port redis_port replica_port rabbitmq_port
  local tmp="$ENV_FILE.tmp"
  cat >"$tmp" <<EOF
OTEL_ERRORS_TEST_POSTGRES_DSN=postgresql://$PG_SUPERUSER@127.0.0.1:$3/postgres
OTEL_ERRORS_TEST_REDIS_URL=redis://127.0.0.1:$4/0
OTEL_ERRORS_TEST_REDIS_REPLICA_URL=redis://127.0.0.1:$5/0
OTEL_ERRORS_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:$6/%2F
OTEL_ERRORS_TEST_RABBITMQCTL=$1/rabbitmq/rabbitmqctl
OTEL_ERRORS_TEST_SERVERS_DIR=$1
OTEL_ERRORS_TEST_PG_BINDIR=$2
OTEL_ERRORS_TEST_PG_OWNER=$PG_OWNER
OTEL_ERRORS_TEST_REDIS_PORT=$4
OTEL_ERRORS_TEST_REDIS_REPLICA_PORT=$5
OTEL_ERRORS_TEST_RABBITMQ_PORT=$6
EOF
  mv "$tmp" "$ENV_FILE"
}

stop_redis() { # port dir
  local pid
  pid=$(cat "$2/redis.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  redis-cli -h 127.0.0.1 -p "$1" shutdown nosave >/dev/null 2>&1 || true
  local deadline=$((SECONDS + WAIT_SECONDS))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      echo "tests/servers.sh: Redis (pid $pid) ignored SHUTDOWN; killing it" >&2
      kill -9 "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
}

stop() {
  if [ ! -f "$ENV_FILE" ]; then
    echo "tests/servers.sh: no servers to stop ($ENV_FILE is missing)"
    return
  fi
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  local dir=$OTEL_ERRORS_TEST_SERVERS_DIR
  PG_OWNER=$OTEL_ERRORS_TEST_PG_OWNER
  if [ -f "$dir/pg/data/postmaster.pid" ]; then
    as_pg_owner "$OTEL_ERRORS_TEST_PG_BINDIR/pg_ctl" -D "$dir/pg/data" -m fast -w \
      -t "$WAIT_SECONDS" stop >/dev/null ||
      echo "tests/servers.sh: PostgreSQL did not stop cleanly; see $dir/pg/server.log" >&2
  fi
  stop_redis "$OTEL_ERRORS_TEST_REDIS_REPLICA_PORT" "$dir/redis-replica"
  stop_redis "$OTEL_ERRORS_TEST_REDIS_PORT" "$dir/redis"
  stop_rabbitmq "$dir/rabbitmq"
  case $dir in
  */otel-errors-servers.*) rm -rf "$dir" ;;
  *) echo "tests/servers.sh: not deleting unexpected directory '$dir'" >&2 ;;
  esac
  rm -f "$ENV_FILE"
  echo "tests/servers.sh: servers stopped"
}

case ${1:-} in
start) start ;;
stop) stop ;;
*) die "usage: tests/servers.sh start|stop" ;;
esac
