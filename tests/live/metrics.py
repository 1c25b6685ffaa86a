"""Scrapes /metrics before and after S3 traffic and checks that the counters moved.

Usage: metrics.py ENDPOINT ADMIN_URL ACCESS_KEY SECRET_KEY
"""
import os, re, sys, time, urllib.request

import boto3
from botocore.config import Config

endpoint, admin, ak, sk = sys.argv[1:5]


def scrape():
    text = urllib.request.urlopen(f"{admin}/metrics", timeout=10).read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
    return values


def get(values, name):
    return values.get(name, 0.0)


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}")
        sys.exit(1)
    print(f"ok: {what}")


assert urllib.request.urlopen(f"{admin}/health", timeout=5).status == 200
before = scrape()
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak, aws_secret_access_key=sk,
                  region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket="metrics-test")
body = os.urandom(300_000)
for i in range(5):
    s3.put_object(Bucket="metrics-test", Key=f"obj{i}", Body=body)
for i in range(5):
    assert s3.get_object(Bucket="metrics-test", Key=f"obj{i}")["Body"].read() == body
try:
    s3.get_object(Bucket="metrics-test", Key="missing")
except s3.exceptions.NoSuchKey:
    pass
after = scrape()

put = 'tessera_requests_total{op="PutObject",status="200"}'
check(get(after, put) - get(before, put) == 5, "PutObject 200 counted 5 times")
miss = 'tessera_requests_total{op="GetObject",status="404"}'
check(get(after, miss) - get(before, miss) == 1, "GetObject 404 counted once")
count = 'tessera_request_duration_seconds_count{op="GetObject"}'
check(get(after, count) - get(before, count) >= 6, "GetObject latency histogram moved")
check(get(after, "tessera_bytes_in_total") - get(before, "tessera_bytes_in_total") >= 5 * len(body), "bytes in")
check(get(after, "tessera_bytes_out_total") - get(before, "tessera_bytes_out_total") >= 5 * len(body), "bytes out")
written = sum(v for k, v in after.items() if k.startswith("tessera_device_bytes_written_total"))
written_before = sum(v for k, v in before.items() if k.startswith("tessera_device_bytes_written_total"))
check(written - written_before >= 5 * len(body), "device bytes written (with parity)")
check(get(after, "tessera_index_entries") == get(before, "tessera_index_entries") + 5, "index entries")
check(get(after, "tessera_index_memory_bytes") > get(before, "tessera_index_memory_bytes"), "index memory estimate grew")
check(get(after, "tessera_commits_total") > get(before, "tessera_commits_total"), "group commits")
for name in ("tessera_commit_duration_seconds", "tessera_fsync_duration_seconds"):
    moved = get(after, f"{name}_count") - get(before, f"{name}_count")
    check(moved >= 1, f"{name} recorded the PUTs' commits ({moved:.0f})")
    check(get(after, f'{name}_bucket{{le="+Inf"}}') == get(after, f"{name}_count"), f"{name} +Inf bucket = count")
    check(get(after, f"{name}_sum") > 0, f"{name} sum")
# Each durable commit fdatasyncs the devices its stripes went to: at least k of them per PUT's commit.
fsyncs = get(after, "tessera_fsyncs_total") - get(before, "tessera_fsyncs_total")
synced = get(after, "tessera_fsync_duration_seconds_count") - get(before, "tessera_fsync_duration_seconds_count")
check(synced == fsyncs, f"one fsync latency per fsync counted ({synced:.0f} = {fsyncs:.0f})")
# A small object goes through the staging ring, and is destaged once the ring is quiet.
s3.put_object(Bucket="metrics-test", Key="small", Body=b"x" * 1000)
assert s3.get_object(Bucket="metrics-test", Key="small")["Body"].read() == b"x" * 1000
s3.delete_object(Bucket="metrics-test", Key="small")
time.sleep(0.5)
later = scrape()
check(get(later, "tessera_staged_commits_total") >= get(after, "tessera_staged_commits_total") + 2, "staged commits (small PUT, DELETE)")
check(get(later, "tessera_destages_total") > get(after, "tessera_destages_total"), "destages")
check(all(v == 1 for k, v in after.items() if k.startswith("tessera_device_up")), "every device up")
check(any(k.startswith("tessera_core_queue_depth") for k in after), "per-core queue depth exported")
print("metrics: all counters moved as expected")
