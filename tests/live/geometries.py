"""Helper of geometries.sh: PUT / GET / ranged GET of every size class, byte-exact."""
import os, sys

import boto3
from botocore.config import Config

endpoint, ak, sk, ec = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak, aws_secret_access_key=sk,
                  region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, read_timeout=20, retries={"max_attempts": 1}))
s3.create_bucket(Bucket="geometries")
for size in [0, 1, 5000, 200_000, 1_048_576, 3_500_000]:
    body = os.urandom(size)
    key = f"k{size}"
    s3.put_object(Bucket="geometries", Key=key, Body=body)
    assert s3.get_object(Bucket="geometries", Key=key)["Body"].read() == body, f"{ec} {key}"
    if size > 100:
        got = s3.get_object(Bucket="geometries", Key=key, Range=f"bytes=7-{size - 3}")["Body"].read()
        assert got == body[7:size - 2], f"{ec} {key} range"
print(f"geometries: {ec} ok")
