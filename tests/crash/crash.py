#!/usr/bin/env python3
"""Crash test: a real tessera node under concurrent PUT / overwrite / DELETE / multipart load
from boto3 is killed with SIGKILL at random moments, restarted on the same data, and checked:
every acknowledged write reads back byte-exact (or is gone if its delete was acknowledged),
and nothing unacknowledged is ever partially visible.

Usage: crash.py BINARY [--cycles N] [--seed S] [--device PATH]...
(--device: data devices for the node, e.g. raw block devices; default: its emulated devices)
"""
import argparse, hashlib, os, random, shutil, signal, socket, subprocess, sys, tempfile, threading, time
import urllib.request

import boto3
from botocore.config import Config

AK, SK, BUCKET = "CRASHTESTAK", "crash-test-secret-key", "crash"
SIZES = [0, 1, 700, 4096, 90_000, 200_000, 1_100_000, 3_000_000]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def blob(seed, size):
    return random.Random(seed).randbytes(size)


class Node:
    def __init__(self, binary, data_dir, devices=()):
        self.binary, self.data_dir = binary, data_dir
        self.devices = [a for d in devices for a in ("--device", d)]
        self.proc = None

    def start(self):
        self.port, self.admin = free_port(), free_port()
        log = open(os.path.join(self.data_dir, "node.log"), "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{self.port}",
             "--admin-listen", f"127.0.0.1:{self.admin}", "--access-key", AK, "--secret-key", SK, "--cores", "2", *self.devices],
            stdout=log, stderr=log)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"node exited at start with {self.proc.returncode}; see {self.data_dir}/node.log")
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/health", timeout=1).status == 200:
                    return
            except Exception:
                time.sleep(0.05)
        raise SystemExit("node did not become healthy in 30 s")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def client(self):
        return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{self.port}", aws_access_key_id=AK,
                            aws_secret_access_key=SK, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                          connect_timeout=2, read_timeout=10))


class State:
    """What the clients know: acknowledged value per key, and values in flight."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}        # key -> sha256 hex, or None when a delete was acknowledged
        self.pending = {}      # key -> set of sha256 hex (or None) an unacknowledged op may leave

    def begin(self, key, digest):
        with self.lock:
            self.pending.setdefault(key, set()).add(digest)

    def ack(self, key, digest):
        with self.lock:
            self.acked[key] = digest
            self.pending.get(key, set()).discard(digest)


def worker(node, state, stop, rng_seed, keys):
    rng = random.Random(rng_seed)
    s3 = node.client()
    while not stop.is_set():
        key = rng.choice(keys)
        op = rng.random()
        try:
            if op < 0.65:
                seed = rng.getrandbits(32)
                size = rng.choice(SIZES)
                data = blob(seed, size)
                digest = hashlib.sha256(data).hexdigest()
                state.begin(key, digest)
                s3.put_object(Bucket=BUCKET, Key=key, Body=data)
                state.ack(key, digest)
            elif op < 0.85:
                state.begin(key, None)
                s3.delete_object(Bucket=BUCKET, Key=key)
                state.ack(key, None)
            else:
                parts = [blob(rng.getrandbits(32), 5 * 1024 * 1024), blob(rng.getrandbits(32), rng.choice([1, 50_000]))]
                data = b"".join(parts)
                digest = hashlib.sha256(data).hexdigest()
                state.begin(key, digest)
                up = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
                etags = []
                for i, p in enumerate(parts, 1):
                    etags.append({"PartNumber": i, "ETag": s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up, PartNumber=i, Body=p)["ETag"]})
                s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=up, MultipartUpload={"Parts": etags})
                state.ack(key, digest)
        except Exception:
            if stop.is_set():
                return
            time.sleep(0.01)


def verify(node, state, cycle):
    s3 = node.client()
    listed = set()
    token = None
    while True:
        kw = {"Bucket": BUCKET, "MaxKeys": 1000}
        if token:
            kw["ContinuationToken"] = token
        page = s3.list_objects_v2(**kw)
        listed |= {o["Key"] for o in page.get("Contents", [])}
        if not page.get("IsTruncated"):
            break
        token = page["NextContinuationToken"]
    checked = 0
    for key in sorted(set(state.acked) | set(state.pending) | listed):
        try:
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            got = hashlib.sha256(body).hexdigest()
        except s3.exceptions.NoSuchKey:
            got = None
        allowed = {state.acked.get(key)} | state.pending.get(key, set())
        if got not in allowed:
            raise SystemExit(f"cycle {cycle}: key {key}: content {got} is neither the acknowledged value "
                             f"{state.acked.get(key)} nor an in-flight one {state.pending.get(key)}")
        if (key in listed) != (got is not None):
            raise SystemExit(f"cycle {cycle}: key {key}: listing and GET disagree")
        state.acked[key] = got
        checked += 1
    state.pending.clear()
    return checked


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--cycles", type=int, default=int(os.environ.get("TESSERA_CRASH_CYCLES", "20")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("TESSERA_CRASH_SEED", str(int(time.time())))))
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--device", action="append", default=[])
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print(f"crash test: seed {args.seed}, {args.cycles} cycles" + (f", devices {args.device}" if args.device else ""))
    data_dir = tempfile.mkdtemp(prefix="tessera-crash-", dir=os.environ.get("TMPDIR", "/tmp"))
    node = Node(args.binary, data_dir, args.device)
    keys = [f"{c}{i}/k" for c in "abcdefghijklmnopqrstuvwxyz0123456789" for i in range(2)]
    state = State()
    total = 0
    try:
        node.start()
        node.client().create_bucket(Bucket=BUCKET)
        for cycle in range(args.cycles):
            stop = threading.Event()
            # Each key belongs to one thread, so a key's writes are sequential and the order of
            # acknowledgements is the order of commits (concurrent writers would make "last
            # acknowledged" ambiguous on the client side).
            threads = [threading.Thread(target=worker, args=(node, state, stop, rng.getrandbits(32), keys[i::args.threads])) for i in range(args.threads)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.3, 2.0))
            node.kill9()
            stop.set()
            for t in threads:
                t.join(timeout=30)
            node.start()
            total += verify(node, state, cycle)
        print(f"crash test: {args.cycles} kill -9 cycles, {total} key checks, every acknowledged write intact")
        node.kill9()
    finally:
        if node.proc and node.proc.poll() is None:
            node.kill9()
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
