"""boto3 against a running node: managed transfers (upload_file / download_file in parts),
presigned URLs fetched with plain HTTP (urllib, no SDK), copies, ranges, conditionals,
paging, and batch deletes; the same client with Signature Version 2 (signature_version='s3'):
objects, multipart, listings and presigned URLs. Every byte read back is checked by SHA-256.

Run by tests/compat/boto3.sh, which starts the node and passes its endpoint and keys in the
environment (TESSERA_ENDPOINT, AK, SK). Prints PASS/FAIL per check and a closing
"N passed, M failed" line; exits 1 if anything failed.
"""

import hashlib
import io
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.compat import HAS_CRT
from botocore.config import Config
from botocore.exceptions import ClientError

MIB = 1024 * 1024
# Every HTTP call is bounded: boto3's own timeouts, and urllib's.
HTTP_TIMEOUT_S = 60

RESULTS = {"passed": 0, "failed": 0}


def check(name, fn):
    started = time.monotonic()
    try:
        fn()
    except Exception as e:  # a check fails on any exception, assertion or client error
        RESULTS["failed"] += 1
        print(f"FAIL: {name} ({(time.monotonic() - started) * 1000:.0f} ms)\n    {type(e).__name__}: {e}")
    else:
        RESULTS["passed"] += 1
        print(f"PASS: {name} ({(time.monotonic() - started) * 1000:.0f} ms)")


def sha(data):
    return hashlib.sha256(data).hexdigest()


def file_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            h.update(block)
    return h.hexdigest()


def http(method, url, data=None, headers=None):
    """Plain HTTP, no SDK: (status, body bytes)."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main():
    endpoint = os.environ["TESSERA_ENDPOINT"]
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ["AK"],
        aws_secret_access_key=os.environ["SK"],
        region_name="us-east-1",
        config=Config(
            signature_version="s3v4",
            connect_timeout=10,
            read_timeout=HTTP_TIMEOUT_S,
            retries={"max_attempts": 1},
        ),
    )
    bucket = "compat-boto3"
    work = tempfile.mkdtemp(prefix="boto3-", dir=os.environ.get("TESSERA_WORK", "/tmp"))
    big = os.path.join(work, "big.bin")
    big_data = os.urandom(23 * MIB + 11)
    with open(big, "wb") as f:
        f.write(big_data)
    # 5 MiB parts, 4 at a time: a 23 MiB file is 5 parts uploaded concurrently.
    parts = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)

    check("create_bucket", lambda: client.create_bucket(Bucket=bucket))

    def upload_download():
        client.upload_file(big, bucket, "managed/big.bin", Config=parts)
        head = client.head_object(Bucket=bucket, Key="managed/big.bin")
        assert head["ContentLength"] == len(big_data), head["ContentLength"]
        assert head["ETag"].endswith('-5"'), head["ETag"]
        out = os.path.join(work, "big.down")
        client.download_file(bucket, "managed/big.bin", out, Config=parts)  # ranged GETs
        assert file_sha(out) == sha(big_data)

    check("upload_file / download_file in 5 MiB parts", upload_download)

    def upload_download_single():
        small = os.urandom(64 * 1024 + 3)
        path = os.path.join(work, "small.bin")
        with open(path, "wb") as f:
            f.write(small)
        client.upload_file(path, bucket, "managed/small.bin")
        out = os.path.join(work, "small.down")
        client.download_file(bucket, "managed/small.bin", out)
        assert file_sha(out) == sha(small)

    check("upload_file / download_file below the threshold", upload_download_single)

    def fileobj():
        data = os.urandom(12 * MIB)
        client.upload_fileobj(io.BytesIO(data), bucket, "managed/obj.bin", Config=parts)
        buf = io.BytesIO()
        client.download_fileobj(bucket, "managed/obj.bin", buf, Config=parts)
        assert sha(buf.getvalue()) == sha(data)

    check("upload_fileobj / download_fileobj (non-seekable-style streams)", fileobj)

    def presigned_get():
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "managed/big.bin"}, ExpiresIn=300
        )
        status, body = http("GET", url)
        assert status == 200, status
        assert sha(body) == sha(big_data)

    check("presigned GET fetched with plain HTTP", presigned_get)

    def presigned_put():
        data = os.urandom(300 * 1024)
        url = client.generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": "presigned/put.bin"}, ExpiresIn=300
        )
        status, body = http("PUT", url, data=data)
        assert status == 200, (status, body[:200])
        got = client.get_object(Bucket=bucket, Key="presigned/put.bin")["Body"].read()
        assert sha(got) == sha(data)

    check("presigned PUT with plain HTTP, read back", presigned_put)

    def presigned_tampered():
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "managed/small.bin"}, ExpiresIn=300
        )
        status, body = http("GET", url.replace("managed/small.bin", "managed/big.bin"))
        assert status == 403 and b"SignatureDoesNotMatch" in body, (status, body[:200])

    check("presigned URL for another key is refused (403)", presigned_tampered)

    def presigned_expired():
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "managed/small.bin"}, ExpiresIn=1
        )
        time.sleep(2.2)
        status, body = http("GET", url)
        assert status == 403 and b"AccessDenied" in body, (status, body[:200])

    check("expired presigned URL is refused (403)", presigned_expired)

    def v2_client(secret):
        return boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=os.environ["AK"],
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(
                signature_version="s3",  # Signature Version 2 (HmacV1)
                connect_timeout=10,
                read_timeout=HTTP_TIMEOUT_S,
                retries={"max_attempts": 1},
            ),
        )

    def sigv2():
        v2 = v2_client(os.environ["SK"])
        # A key that needs encoding: the V2 resource is the path as sent.
        key = "sigv2/a b+c=d.bin"
        data = os.urandom(256 * 1024 + 5)
        v2.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/x-tessera", Metadata={"k": "v"})
        got = v2.get_object(Bucket=bucket, Key=key)
        assert sha(got["Body"].read()) == sha(data)
        assert got["ContentType"] == "application/x-tessera" and got["Metadata"] == {"k": "v"}, got
        # Multipart: ?uploads, ?partNumber=N&uploadId=X and ?uploadId=X are signed sub-resources.
        big = os.urandom(11 * MIB)
        v2.upload_fileobj(io.BytesIO(big), bucket, "sigv2/multipart.bin", Config=parts)
        buf = io.BytesIO()
        v2.download_fileobj(bucket, "sigv2/multipart.bin", buf, Config=parts)
        assert sha(buf.getvalue()) == sha(big)
        listed = v2.list_objects(Bucket=bucket, Prefix="sigv2/")["Contents"]
        assert [o["Key"] for o in listed] == ["sigv2/a b+c=d.bin", "sigv2/multipart.bin"], listed
        listed = v2.list_objects_v2(Bucket=bucket, Prefix="sigv2/", MaxKeys=1)
        assert listed["KeyCount"] == 1 and listed["IsTruncated"], listed
        # Presigned (AWSAccessKeyId, Expires, Signature), fetched with plain HTTP.
        url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
        assert "AWSAccessKeyId=" in url and "Signature=" in url and "X-Amz-" not in url, url
        status, body = http("GET", url)
        assert status == 200, (status, body[:200])
        assert sha(body) == sha(data)
        # An already expired one, and one for another key.
        url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=-60)
        status, body = http("GET", url)
        assert status == 403 and b"AccessDenied" in body, (status, body[:200])
        url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
        status, body = http("GET", url.replace("sigv2/a", "sigv2/b"))
        assert status == 403 and b"SignatureDoesNotMatch" in body, (status, body[:200])
        v2.delete_object(Bucket=bucket, Key="sigv2/multipart.bin")

    check("Signature Version 2: put/get/multipart/list/presigned GET, read back by hash", sigv2)

    def sigv2_wrong_secret():
        bad = v2_client(os.environ["SK"] + "x")
        try:
            bad.get_object(Bucket=bucket, Key="sigv2/a b+c=d.bin")
            raise AssertionError("a V2 request signed with the wrong secret was accepted")
        except ClientError as e:
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
            assert status == 403 and e.response["Error"]["Code"] == "SignatureDoesNotMatch", e.response

    check("Signature Version 2 with the wrong secret is refused (403)", sigv2_wrong_secret)

    def managed_copy():
        client.copy(
            {"Bucket": bucket, "Key": "managed/big.bin"}, bucket, "copies/big.bin", Config=parts
        )  # UploadPartCopy with ranges
        body = client.get_object(Bucket=bucket, Key="copies/big.bin")["Body"].read()
        assert sha(body) == sha(big_data)

    check("managed copy (UploadPartCopy)", managed_copy)

    def copy_object_replace_metadata():
        client.copy_object(
            Bucket=bucket,
            Key="copies/small.bin",
            CopySource={"Bucket": bucket, "Key": "managed/small.bin"},
            MetadataDirective="REPLACE",
            ContentType="application/x-tessera",
            Metadata={"k": "v"},
        )
        head = client.head_object(Bucket=bucket, Key="copies/small.bin")
        assert head["ContentType"] == "application/x-tessera" and head["Metadata"] == {"k": "v"}, head

    check("copy_object with REPLACE metadata", copy_object_replace_metadata)

    def ranges():
        got = client.get_object(Bucket=bucket, Key="managed/big.bin", Range="bytes=5242870-5242889")
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"] == f"bytes 5242870-5242889/{len(big_data)}", got["ContentRange"]
        assert got["Body"].read() == big_data[5242870:5242890]
        tail = client.get_object(Bucket=bucket, Key="managed/big.bin", Range="bytes=-100")["Body"].read()
        assert tail == big_data[-100:]

    check("ranged GETs across a part boundary and a suffix range", ranges)

    def part_number():
        got = client.get_object(Bucket=bucket, Key="managed/big.bin", PartNumber=2)
        assert got["PartsCount"] == 5, got.get("PartsCount")
        assert got["Body"].read() == big_data[5 * MIB : 10 * MIB]

    check("GET by PartNumber", part_number)

    def conditionals():
        etag = client.head_object(Bucket=bucket, Key="managed/small.bin")["ETag"]
        try:
            client.get_object(Bucket=bucket, Key="managed/small.bin", IfNoneMatch=etag)
            raise AssertionError("If-None-Match with the current ETag did not answer 304")
        except ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 304, e.response
        try:
            client.get_object(Bucket=bucket, Key="managed/small.bin", IfMatch='"0000"')
            raise AssertionError("If-Match with another ETag did not answer 412")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "PreconditionFailed", e.response

    check("conditional GETs (304, 412)", conditionals)

    def conditional_put():
        client.put_object(Bucket=bucket, Key="cond/once", Body=b"first", IfNoneMatch="*")
        try:
            client.put_object(Bucket=bucket, Key="cond/once", Body=b"second", IfNoneMatch="*")
            raise AssertionError("a second create-only PUT succeeded")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "PreconditionFailed", e.response
        assert client.get_object(Bucket=bucket, Key="cond/once")["Body"].read() == b"first"

    check("create-only PUT (If-None-Match: *)", conditional_put)

    def checksums():
        data = os.urandom(2 * MIB)
        algos = ["CRC32", "SHA1", "SHA256"]
        if HAS_CRT:  # botocore computes CRC32C only with awscrt installed
            algos.append("CRC32C")
        for algo in algos:
            key = f"checksum/{algo}"
            client.put_object(Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm=algo)
            got = client.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
            assert got.get(f"Checksum{algo}"), (algo, got.keys())
            assert sha(got["Body"].read()) == sha(data)

    check("flexible checksums (CRC32, SHA1, SHA256; CRC32C with awscrt) stored and returned", checksums)

    def paging():
        for i in range(120):
            client.put_object(Bucket=bucket, Key=f"page/{i:04d}", Body=str(i).encode())
        keys = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix="page/", PaginationConfig={"PageSize": 25}
        ):
            keys += [o["Key"] for o in page.get("Contents", [])]
        assert keys == [f"page/{i:04d}" for i in range(120)], len(keys)
        prefixes = client.list_objects_v2(Bucket=bucket, Delimiter="/")["CommonPrefixes"]
        assert {"Prefix": "page/"} in prefixes, prefixes

    check("list_objects_v2 paginator over 120 keys, 25 a page", paging)

    def batch_delete():
        objects = [{"Key": f"page/{i:04d}"} for i in range(120)]
        result = client.delete_objects(Bucket=bucket, Delete={"Objects": objects})
        assert len(result.get("Deleted", [])) == 120 and not result.get("Errors"), result
        assert client.list_objects_v2(Bucket=bucket, Prefix="page/")["KeyCount"] == 0

    check("delete_objects of 120 keys", batch_delete)

    def abort_listing():
        upload = client.create_multipart_upload(Bucket=bucket, Key="mp/aborted")["UploadId"]
        client.upload_part(Bucket=bucket, Key="mp/aborted", UploadId=upload, PartNumber=1, Body=b"x" * 1024)
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        assert any(u["UploadId"] == upload for u in uploads), uploads
        client.abort_multipart_upload(Bucket=bucket, Key="mp/aborted", UploadId=upload)
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        assert not any(u["UploadId"] == upload for u in uploads), uploads

    check("list and abort a multipart upload", abort_listing)

    def tags_and_managed_copy():
        # Tags on a PUT (the header), replaced by PutObjectTagging, kept by a managed copy
        # (one CopyObject at this size: the tagging directive's default copies them).
        client.put_object(Bucket=bucket, Key="tags/src", Body=b"t" * 1024, Tagging="team=data&env=prod")
        got = client.get_object_tagging(Bucket=bucket, Key="tags/src")["TagSet"]
        assert got == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "data"}], got
        assert client.head_object(Bucket=bucket, Key="tags/src")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
        client.put_object_tagging(Bucket=bucket, Key="tags/src", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
        client.copy({"Bucket": bucket, "Key": "tags/src"}, bucket, "tags/copy")
        assert client.get_object_tagging(Bucket=bucket, Key="tags/copy")["TagSet"] == [{"Key": "k", "Value": "v"}]
        client.delete_object_tagging(Bucket=bucket, Key="tags/src")
        assert client.get_object_tagging(Bucket=bucket, Key="tags/src")["TagSet"] == []
        client.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "project", "Value": "tessera"}]})
        assert client.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "project", "Value": "tessera"}]
        client.delete_bucket_tagging(Bucket=bucket)

    check("object and bucket tags (put, get, copy, delete)", tags_and_managed_copy)

    def cors_preflight():
        # A browser's flow: the bucket's rules, then an unsigned OPTIONS preflight, then the
        # presigned PUT itself with the Origin header, whose answer carries the CORS headers.
        origin = "https://app.example"
        client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
            "AllowedOrigins": [origin], "AllowedMethods": ["PUT", "GET"],
            "AllowedHeaders": ["content-type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60}]})
        rules = client.get_bucket_cors(Bucket=bucket)["CORSRules"]
        assert rules[0]["AllowedOrigins"] == [origin], rules
        url = f"{endpoint}/{bucket}/cors/upload.txt"
        request = urllib.request.Request(url, method="OPTIONS", headers={
            "Origin": origin, "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type"})
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert "PUT" in response.headers["Access-Control-Allow-Methods"]
        presigned = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "cors/upload.txt"}, ExpiresIn=300)
        request = urllib.request.Request(presigned, data=b"from a page", method="PUT", headers={"Origin": origin})
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert response.headers["Access-Control-Expose-Headers"] == "ETag"
        assert client.get_object(Bucket=bucket, Key="cors/upload.txt")["Body"].read() == b"from a page"
        status, _ = http("OPTIONS", url, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"})
        assert status == 403, status
        client.delete_bucket_cors(Bucket=bucket)

    check("CORS: rules, preflight, presigned PUT from an allowed origin", cors_preflight)

    def cleanup():
        resource = boto3.resource(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=os.environ["AK"],
            aws_secret_access_key=os.environ["SK"],
            region_name="us-east-1",
        )
        b = resource.Bucket(bucket)
        b.objects.all().delete()
        b.delete()
        names = [x["Name"] for x in client.list_buckets()["Buckets"]]
        assert bucket not in names, names

    check("empty and delete the bucket (resource API)", cleanup)

    print(f"boto3: {RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
