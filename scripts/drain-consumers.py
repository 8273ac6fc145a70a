#!/usr/bin/env python3
"""One consumer against two draining the same backlog, and what a pending event costs Redis.

`make bench` drains its backlog with one consumer; this script asks what a second one adds
(docs/PERFORMANCE.md and docs/SCALING.md, "SQLite against PostgreSQL"). It uses the release
binaries (`cargo build --release --bins`) and a redis-server of its own:

  scripts/drain-consumers.py prepare N BACKLOG.rdb
      N events (the bench's: page views, carts and purchases 18 ms apart, 1000 products, 5000
      sessions, 3000 visitors) posted to a real ingestion in batches of 1000, with no consumer;
      prints Redis's `used_memory` before and after (memory per pending event) and saves the
      stream to BACKLOG.rdb.
  scripts/drain-consumers.py drain BACKLOG.rdb CONSUMERS
      starts a redis-server on a copy of BACKLOG.rdb (append-only file on, `everysec`, as
      `make run` starts it), CONSUMERS consumers of one group on a new store, and times them
      until every event is stored; prints the rate and the CPU seconds each process group
      (consumers, Redis, PostgreSQL, everything else) used meanwhile. The store is a new SQLite
      file, or with DATABASE_URL=postgres://… a new database on that server (dropped after).

Nothing here is part of the pipeline; it only starts the binaries and reads their /metrics.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
STREAM = "analytics:events:stream"
TICKS = os.sysconf("SC_CLK_TCK")
# Every process this script starts, stopped at exit even when a step fails.
STARTED = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not answer")


def redis_cli(port, *args):
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def info(port, section, field):
    for line in redis_cli(port, "INFO", section).splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"no {field} in INFO {section}")


def start_redis(directory, extra=()):
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
         "--save", "", *extra],
        stdout=subprocess.DEVNULL,
    )
    STARTED.append(process)
    for _ in range(100):
        try:
            if redis_cli(port, "PING") == "PONG" and info(port, "persistence", "loading") == "0":
                return process, port
        except subprocess.CalledProcessError:
            pass
        time.sleep(0.1)
    raise SystemExit("redis-server did not start")


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def event(n, start):
    types = ["page_view", "page_view", "page_view", "add_to_cart", "purchase"]
    value = {
        "event_type": types[n % 5],
        "timestamp": (start + timedelta(milliseconds=18 * n)).isoformat().replace("+00:00", "Z"),
        "product_id": f"prod-{n % 1000}",
        "session_id": f"s-{n % 5000}",
        "visitor_id": f"v-{n % 3000}",
    }
    if n % 5 == 4:
        value["order_amount"] = (n % 20_000) / 100
    return value


def prepare(count, rdb):
    directory = tempfile.mkdtemp(prefix="drain-prepare-")
    redis, port = start_redis(directory, ["--appendonly", "no"])
    before = int(info(port, "memory", "used_memory"))
    addr, metrics = free_port(), free_port()
    env = dict(os.environ, AUTH="off", RUST_LOG="warn", REDIS_URL=f"redis://127.0.0.1:{port}",
               INGESTION_ADDR=f"127.0.0.1:{addr}", INGESTION_METRICS_ADDR=f"127.0.0.1:{metrics}",
               MAX_BACKLOG="100000000", MAX_BACKLOG_BYTES="1TiB")
    ingestion = subprocess.Popen([os.path.join(RELEASE, "ingestion")], env=env)
    STARTED.append(ingestion)
    try:
        wait_http(f"http://127.0.0.1:{addr}/v1/ready")
        start = datetime(2025, 10, 2, 10, 30, tzinfo=timezone.utc)
        for first in range(0, count, 1000):
            body = json.dumps(
                {"events": [event(n, start) for n in range(first, min(first + 1000, count))]}
            ).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{addr}/v1/events/batch", data=body,
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request) as r:
                if r.status != 202:
                    raise SystemExit(f"batch at {first}: {r.status}")
    finally:
        stop(ingestion)
    length = int(redis_cli(port, "XLEN", STREAM))
    after = int(info(port, "memory", "used_memory"))
    stream = int(redis_cli(port, "MEMORY", "USAGE", STREAM, "SAMPLES", "0"))
    sample = redis_cli(port, "XRANGE", STREAM, "-", "+", "COUNT", "1")
    print(f"{length} events pending; used_memory {before} -> {after} bytes: "
          f"{(after - before) / length:.0f} bytes a pending event "
          f"(MEMORY USAGE of the stream: {stream / length:.0f} bytes an entry)")
    print(f"one entry as stored: {sample!r}")
    redis_cli(port, "SAVE")
    stop(redis)
    shutil.copy(os.path.join(directory, "dump.rdb"), rdb)
    shutil.rmtree(directory)


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / TICKS


def processes():
    """Every process: pid -> (command name, parent)."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    text = f.read()
            except OSError:
                continue
            name = text[text.index("(") + 1:text.rindex(")")]
            parent = int(text.rsplit(")", 1)[1].split()[1])
            table[int(entry)] = (name, parent)
    return table


def machine_cpu():
    """(busy, total) jiffies of all cores."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def postgres_pids(postmaster):
    return [pid for pid, (_, parent) in processes().items() if parent == postmaster or pid == postmaster]


def drain(rdb, consumers):
    directory = tempfile.mkdtemp(prefix="drain-run-")
    shutil.copy(rdb, os.path.join(directory, "dump.rdb"))
    redis, port = start_redis(directory, ["--appendonly", "no"])
    # As `make run` and the bench run it; switching it on writes the file from the loaded data.
    redis_cli(port, "CONFIG", "SET", "appendfsync", "everysec")
    redis_cli(port, "CONFIG", "SET", "appendonly", "yes")
    while info(port, "persistence", "aof_rewrite_in_progress") != "0" or \
            info(port, "persistence", "aof_rewrite_scheduled") != "0":
        time.sleep(0.1)
    count = int(redis_cli(port, "XLEN", STREAM))
    server = os.environ.get("DATABASE_URL", "")
    postmaster = None
    if server.startswith("postgres"):
        database = f"drain_{os.getpid()}"
        subprocess.run(["psql", server, "-qc", f"DROP DATABASE IF EXISTS {database}"], check=True)
        subprocess.run(["psql", server, "-qc", f"CREATE DATABASE {database}"], check=True)
        url = server.rsplit("/", 1)[0] + "/" + database
        data = subprocess.run(["psql", server, "-Atc", "SHOW data_directory"],
                              capture_output=True, text=True, check=True).stdout.strip()
        with open(os.path.join(data, "postmaster.pid")) as f:
            postmaster = int(f.readline())
    else:
        url = os.path.join(directory, "drain.db")
    metrics = [free_port() for _ in range(consumers)]
    busy0, total0 = machine_cpu()
    pg0 = cpu_seconds(postgres_pids(postmaster)) if postmaster else 0.0
    redis0 = cpu_seconds([redis.pid])
    started = time.time()
    running = [
        subprocess.Popen(
            [os.path.join(RELEASE, "consumer")],
            env=dict(os.environ, RUST_LOG="warn", REDIS_URL=f"redis://127.0.0.1:{port}",
                     DATABASE_URL=url, CONSUMER_NAME=f"drain-{i}",
                     CONSUMER_METRICS_ADDR=f"127.0.0.1:{metrics[i]}"))
        for i in range(consumers)
    ]
    STARTED.extend(running)
    stored_each = [0.0] * consumers
    pg_pids = set()
    while True:
        for i, m in enumerate(metrics):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{m}/metrics", timeout=2) as r:
                    for line in r.read().decode().splitlines():
                        parts = line.split()
                        if parts and parts[0] == "consumer_events_stored_total":
                            stored_each[i] = float(parts[1])
            except OSError:
                pass
        if postmaster:
            pg_pids.update(postgres_pids(postmaster))
        if sum(stored_each) >= count:
            break
        if time.time() - started > 900:
            raise SystemExit(f"stored only {sum(stored_each)} of {count} in 15 minutes")
        time.sleep(0.05)
    elapsed = time.time() - started
    consumer_cpu = cpu_seconds([p.pid for p in running])
    redis_cpu = cpu_seconds([redis.pid]) - redis0
    # Backends that ended during the drain are not counted: the consumers' connections live
    # as long as they do, so this misses only short-lived ones.
    pg_cpu = cpu_seconds(pg_pids) - pg0 if postmaster else 0.0
    busy1, total1 = machine_cpu()
    machine = (busy1 - busy0) / TICKS
    cores = (total1 - total0) / TICKS / elapsed
    for p in running:
        stop(p)
    if postmaster:
        stored = subprocess.run(["psql", url, "-Atc", "SELECT COUNT(*) FROM events"],
                                capture_output=True, text=True, check=True).stdout.strip()
        subprocess.run(["psql", server, "-qc", f"DROP DATABASE {database} WITH (FORCE)"],
                       check=True)
    else:
        stored = sqlite3.connect(url).execute("SELECT COUNT(*) FROM events").fetchone()[0]
    stop(redis)
    shutil.rmtree(directory)
    print(f"{consumers} consumer(s), {'PostgreSQL' if postmaster else 'SQLite'}: {count} events "
          f"in {elapsed:.1f} s = {count / elapsed:.0f} events/s (each stored "
          f"{', '.join(f'{s:.0f}' for s in stored_each)}; {stored} rows in the store)")
    print(f"  CPU seconds during the drain: consumers {consumer_cpu:.1f}, redis {redis_cpu:.1f}, "
          f"postgres {pg_cpu:.1f}, whole machine {machine:.1f} of {cores * elapsed:.1f} "
          f"({cores:.0f} cores): {machine / elapsed:.2f} cores busy, of which this drain "
          f"{(consumer_cpu + redis_cpu + pg_cpu) / elapsed:.2f}")


def stop_all():
    for process in STARTED:
        if process.poll() is None:
            stop(process)


if __name__ == "__main__":
    atexit.register(stop_all)
    if len(sys.argv) == 4 and sys.argv[1] == "prepare":
        prepare(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "drain":
        drain(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
