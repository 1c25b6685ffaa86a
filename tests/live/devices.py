"""Helper of devices.sh: `put` writes objects of every layout and records their SHA-256;
`check` reads them back, compares, and checks that /metrics counted degraded reads."""
import hashlib, json, os, sys, urllib.request

import boto3
from botocore.config import Config

mode, endpoint, ak, sk, manifest = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak, aws_secret_access_key=sk,
                  region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
if mode == "put":
    s3.create_bucket(Bucket="devices")
    sums = {}
    for i, size in enumerate([1, 5000, 100_000, 1_048_576, 5_000_000]):
        key = f"{chr(ord('a') + i)}/obj{size}"
        body = os.urandom(size)
        s3.put_object(Bucket="devices", Key=key, Body=body)
        sums[key] = hashlib.sha256(body).hexdigest()
    json.dump(sums, open(manifest, "w"))
else:
    admin = sys.argv[6]
    sums = json.load(open(manifest))
    for key, digest in sums.items():
        body = s3.get_object(Bucket="devices", Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == digest, f"{key}: wrong bytes"
    metrics = urllib.request.urlopen(f"{admin}/metrics").read().decode()
    degraded = [l for l in metrics.splitlines() if l.startswith("tessera_degraded_reads_total ")]
    assert degraded and float(degraded[0].split()[1]) > 0, "degraded reads not counted"
    up = [l for l in metrics.splitlines() if l.startswith("tessera_device_up")]
    assert sum(float(l.split()[1]) for l in up) == 4, up
    print(f"devices: {len(sums)} objects byte-exact with 2 of 6 devices gone")
