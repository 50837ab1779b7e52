#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis that the tests use are running on 127.0.0.1.
# On the project's Debian machines both are installed and usually already up; this starts
# whichever is down (and installs it with apt-get if it is missing and we are root).
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

apt_install() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
    else
        echo "error: please install $* (Debian: apt-get install $*)" >&2
        exit 1
    fi
}

if ! pg_up; then
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    echo "starting PostgreSQL" >&2
    for v in /etc/postgresql/*; do
        pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start || true
    done
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
    pg_up || { echo "error: PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
fi

if ! redis_up; then
    command -v redis-server >/dev/null || apt_install redis-server
    echo "starting Redis" >&2
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /tmp --logfile /tmp/rollcall-redis.log
    for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
    redis_up || { echo "error: Redis did not start on 127.0.0.1:6379" >&2; exit 1; }
fi
echo "PostgreSQL and Redis are up" >&2
