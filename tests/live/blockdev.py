"""Helper of blockdev.sh: `put` writes objects of every layout (packed, one stripe, several
stripes, multipart) and records their SHA-256; `check` reads them all back and compares."""
import hashlib, json, os, sys

import boto3
from botocore.config import Config

mode, endpoint, ak, sk, manifest = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak, aws_secret_access_key=sk,
                  region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
if mode == "put":
    s3.create_bucket(Bucket="blk")
    sums = {}
    for i, size in enumerate([0, 1, 5000, 100_000, 1_048_576, 5_000_000]):
        key = f"obj{i}-{size}"
        body = os.urandom(size)
        s3.put_object(Bucket="blk", Key=key, Body=body)
        sums[key] = hashlib.sha256(body).hexdigest()
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(777_777)]
    up = s3.create_multipart_upload(Bucket="blk", Key="multi")
    done = []
    for n, body in enumerate(parts, 1):
        r = s3.upload_part(Bucket="blk", Key="multi", UploadId=up["UploadId"], PartNumber=n, Body=body)
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket="blk", Key="multi", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": done})
    sums["multi"] = hashlib.sha256(b"".join(parts)).hexdigest()
    json.dump(sums, open(manifest, "w"))
else:
    sums = json.load(open(manifest))
    for key, digest in sums.items():
        body = s3.get_object(Bucket="blk", Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == digest, f"{key}: wrong bytes"
    print(f"blockdev: {len(sums)} objects byte-exact")
