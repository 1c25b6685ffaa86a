"""Browser-based uploads (S3 POST Object) against a running node: forms signed by boto3's
generate_presigned_post (Signature V4) and by hand (V2), posted as multipart/form-data with
plain http.client (the file streamed, never built in memory whole), then read back with
boto3 and checked by SHA-256 and MD5 (the ETag).

Covers: 204 (default) and 201 (XML PostResponse), 303 redirects, metadata from form fields,
${filename} keys, a Content-MD5 field, a 5 MiB file, refusals (policy condition, extra field, expired policy,
bad signature, anonymous form, another user's bucket: 403; content-length-range: 400), and
that a truncated body or one without its closing boundary leaves no object behind.

Run by tests/compat/boto3.sh, which starts the node and passes its endpoint and keys in the
environment (TESSERA_ENDPOINT, AK, SK, ALT_AK, ALT_SK). Prints PASS/FAIL per check and a
closing "N passed, M failed" line; exits 1 if anything failed.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from boto3_compat import HTTP_TIMEOUT_S, MIB, RESULTS, check  # the same check harness

BOUNDARY = "tessera-form-7d3f0b9a"


def form_parts(fields, filename, file_len):
    """The bytes before the file and after it, for a form with these fields."""
    head = bytearray()
    for name, value in fields.items():
        head += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        head += (value if isinstance(value, bytes) else str(value).encode()) + b"\r\n"
    head += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return bytes(head), tail


def pattern(length, seed):
    """Deterministic bytes, produced in 1 MiB pieces."""
    block = hashlib.sha256(seed.encode()).digest() * (MIB // 32)
    sent = 0
    while sent < length:
        piece = block[: min(MIB, length - sent)]
        sent += len(piece)
        yield piece


def digests(length, seed):
    sha, md5 = hashlib.sha256(), hashlib.md5()
    for piece in pattern(length, seed):
        sha.update(piece)
        md5.update(piece)
    return sha.hexdigest(), md5.hexdigest()


def post(url, fields, file_len=0, seed="x", filename="data.bin", tail=None):
    """POSTs the form, streaming the file; returns (status, headers dict, body bytes)."""
    head, close = form_parts(fields, filename, file_len)
    if tail is not None:
        close = tail
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=HTTP_TIMEOUT_S)
    try:
        conn.putrequest("POST", parts.path or "/")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        conn.putheader("Content-Length", str(len(head) + file_len + len(close)))
        conn.endheaders()
        conn.send(head)
        for piece in pattern(file_len, seed):
            conn.send(piece)
        conn.send(close)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def error_code(body):
    return ET.fromstring(body).findtext("Code")


def main():
    endpoint = os.environ["TESSERA_ENDPOINT"]

    def client_for(ak, sk):
        return boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=ak,
            aws_secret_access_key=sk,
            region_name="us-east-1",
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=10,
                read_timeout=HTTP_TIMEOUT_S,
                retries={"max_attempts": 1},
            ),
        )

    client = client_for(os.environ["AK"], os.environ["SK"])
    alt = client_for(os.environ["ALT_AK"], os.environ["ALT_SK"])
    bucket = f"post-{int(time.time())}"
    client.create_bucket(Bucket=bucket)

    def presigned(key, fields=None, conditions=None, expires=600, signer=client):
        return signer.generate_presigned_post(
            bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires
        )

    def read_back(key, length, seed):
        got = client.get_object(Bucket=bucket, Key=key)
        data = got["Body"].read()
        want_sha, want_md5 = digests(length, seed)
        assert hashlib.sha256(data).hexdigest() == want_sha, f"{key}: content differs"
        assert got["ETag"] == f'"{want_md5}"', f"{key}: ETag {got['ETag']} is not the MD5"
        return got

    def absent(key):
        try:
            client.head_object(Bucket=bucket, Key=key)
        except ClientError as e:
            assert e.response["Error"]["Code"] in ("404", "NoSuchKey"), e
            return
        raise AssertionError(f"{key} exists but the upload failed")

    def default_204():
        p = presigned("post/a.bin")
        status, headers, body = post(p["url"], p["fields"], 100_000, "a")
        assert status == 204 and body == b"", (status, body)
        _, md5 = digests(100_000, "a")
        assert headers.get("etag") == f'"{md5}"', headers
        read_back("post/a.bin", 100_000, "a")

    check("V4 form (generate_presigned_post): 204, content and ETag read back", default_204)

    def created_201():
        p = presigned("post/b c.bin", {"success_action_status": "201"}, [{"success_action_status": "201"}])
        status, _, body = post(p["url"], p["fields"], 4096, "b")
        assert status == 201, (status, body)
        doc = ET.fromstring(body)
        _, md5 = digests(4096, "b")
        assert doc.tag.endswith("PostResponse"), body
        assert doc.findtext("Bucket") == bucket and doc.findtext("Key") == "post/b c.bin", body
        assert doc.findtext("ETag") == f'"{md5}"', body
        assert doc.findtext("Location") == f"/{bucket}/post/b%20c.bin", body
        read_back("post/b c.bin", 4096, "b")

    check("success_action_status 201: PostResponse XML", created_201)

    def redirect_303():
        target = "http://example.invalid/done?from=form"
        p = presigned("post/r.bin", {"success_action_redirect": target}, [{"success_action_redirect": target}])
        status, headers, _ = post(p["url"], p["fields"], 10, "r")
        _, md5 = digests(10, "r")
        want = f"{target}&bucket={bucket}&key=post%2Fr.bin&etag=%22{md5}%22"
        assert status == 303 and headers.get("location") == want, (status, headers)

    check("success_action_redirect: 303 with bucket, key and ETag", redirect_303)

    def metadata_and_filename():
        fields = {"Content-Type": "text/plain", "x-amz-meta-color": "blue", "Cache-Control": "no-cache"}
        conditions = [
            ["starts-with", "$Content-Type", "text/"],
            {"x-amz-meta-color": "blue"},
            ["starts-with", "$Cache-Control", ""],
        ]
        p = presigned("post/${filename}", fields, conditions)
        status, _, body = post(p["url"], p["fields"], 300, "m", filename="notes.txt")
        assert status == 204, (status, body)
        got = read_back("post/notes.txt", 300, "m")
        assert got["ContentType"] == "text/plain", got["ContentType"]
        assert got["Metadata"] == {"color": "blue"}, got["Metadata"]
        assert got["CacheControl"] == "no-cache", got.get("CacheControl")

    check("metadata from form fields, ${filename} in the key", metadata_and_filename)

    def content_md5():
        _, md5 = digests(2000, "md5")
        good = base64.b64encode(bytes.fromhex(md5)).decode()
        bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        for value, want in ((bad, 400), (good, 204)):
            p = presigned("post/md5.bin", {"Content-MD5": value}, [{"Content-MD5": value}])
            status, _, body = post(p["url"], p["fields"], 2000, "md5")
            assert status == want, (value, status, body)
            if want == 400:
                assert error_code(body) == "BadDigest", body
                absent("post/md5.bin")
        read_back("post/md5.bin", 2000, "md5")

    check("a Content-MD5 field is verified (400 BadDigest, then 204)", content_md5)

    def five_mib():
        size = 5 * MIB + 123
        p = presigned("post/big.bin", conditions=[["content-length-range", 0, 6 * MIB]])
        status, _, body = post(p["url"], p["fields"], size, "big")
        assert status == 204, (status, body)
        read_back("post/big.bin", size, "big")

    check("5 MiB file streamed, read back by hash", five_mib)

    def v2_by_hand():
        policy = base64.b64encode(json.dumps({
            "expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600)),
            "conditions": [{"bucket": bucket}, ["starts-with", "$key", "post/"]],
        }).encode())
        signature = base64.b64encode(hmac.new(os.environ["SK"].encode(), policy, hashlib.sha1).digest())
        fields = {"key": "post/v2.bin", "AWSAccessKeyId": os.environ["AK"], "policy": policy, "signature": signature}
        status, _, body = post(f"{endpoint}/{bucket}", fields, 777, "v2")
        assert status == 204, (status, body)
        read_back("post/v2.bin", 777, "v2")

    check("V2 policy signature (AWSAccessKeyId, signature)", v2_by_hand)

    def refused(expected_status, expected_code, p_or_url, fields, file_len=10, key=None):
        url = p_or_url
        status, _, body = post(url, fields, file_len, "no")
        assert status == expected_status, (status, body)
        assert error_code(body) == expected_code, body
        if key is not None:
            absent(key)

    def policy_violation():
        p = presigned("post/allowed.bin")
        fields = dict(p["fields"], key="post/other.bin")
        refused(403, "AccessDenied", p["url"], fields, key="post/other.bin")

    check("a key the policy does not allow: 403 AccessDenied", policy_violation)

    def extra_field():
        p = presigned("post/extra.bin")
        fields = dict(p["fields"], **{"x-amz-meta-sneaky": "1"})
        refused(403, "AccessDenied", p["url"], fields, key="post/extra.bin")

    check("a field no condition names: 403 AccessDenied", extra_field)

    def expired():
        p = presigned("post/late.bin", expires=-60)
        refused(403, "AccessDenied", p["url"], p["fields"], key="post/late.bin")

    check("an expired policy: 403 AccessDenied", expired)

    def bad_signature():
        p = presigned("post/forged.bin")
        fields = dict(p["fields"])
        fields["x-amz-signature"] = "0" * 64
        refused(403, "SignatureDoesNotMatch", p["url"], fields, key="post/forged.bin")

    check("a forged signature: 403 SignatureDoesNotMatch", bad_signature)

    def anonymous():
        refused(403, "AccessDenied", f"{endpoint}/{bucket}", {"key": "post/anon.bin"}, key="post/anon.bin")

    check("an anonymous form (no policy) into a private bucket: 403 AccessDenied", anonymous)

    def other_users_bucket():
        p = presigned("post/alt.bin", signer=alt)
        refused(403, "AccessDenied", p["url"], p["fields"], key="post/alt.bin")

    check("a form signed by another user: 403 AccessDenied", other_users_bucket)

    def length_range():
        p = presigned("post/range.bin", conditions=[["content-length-range", 5, 50]])
        refused(400, "EntityTooLarge", p["url"], p["fields"], file_len=51, key="post/range.bin")
        refused(400, "EntityTooSmall", p["url"], p["fields"], file_len=4, key="post/range.bin")
        status, _, body = post(p["url"], p["fields"], 50, "edge")
        assert status == 204, (status, body)
        read_back("post/range.bin", 50, "edge")

    check("content-length-range: 400 EntityTooLarge / EntityTooSmall, the bounds allowed", length_range)

    def truncated():
        p = presigned("post/cut.bin")
        head, close = form_parts(p["fields"], "cut.bin", 2 * MIB)
        total = len(head) + 2 * MIB + len(close)
        parts = urllib.parse.urlsplit(p["url"])
        with socket.create_connection((parts.hostname, parts.port), timeout=HTTP_TIMEOUT_S) as s:
            s.sendall(
                (
                    f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                    f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                    f"Content-Length: {total}\r\n\r\n"
                ).encode()
                + head
            )
            sent = 0
            for piece in pattern(MIB + 4096, "cut"):
                s.sendall(piece)
                sent += len(piece)
        # The node sees the connection end mid-body and aborts the upload.
        time.sleep(0.5)
        absent("post/cut.bin")

    check("a body cut short mid-file leaves no object", truncated)

    def no_closing_boundary():
        p = presigned("post/open.bin")
        status, _, body = post(p["url"], p["fields"], 1000, "open", tail=b"\r\n")
        assert status == 400, (status, body)
        assert error_code(body) == "IncompleteBody", body
        absent("post/open.bin")

    check("a body without its closing boundary: 400, no object", no_closing_boundary)

    def not_a_form():
        conn = http.client.HTTPConnection(urllib.parse.urlsplit(endpoint).hostname, urllib.parse.urlsplit(endpoint).port, timeout=HTTP_TIMEOUT_S)
        try:
            conn.request("POST", f"/{bucket}", body=b"key=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert response.status == 412 and error_code(body) == "PreconditionFailed", (response.status, body)

    check("a bucket POST that is not multipart/form-data: 412", not_a_form)

    def cleanup():
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        want = {"post/a.bin", "post/b c.bin", "post/r.bin", "post/notes.txt", "post/big.bin", "post/v2.bin", "post/range.bin", "post/md5.bin"}
        assert set(keys) == want, sorted(set(keys) ^ want)
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
        client.delete_bucket(Bucket=bucket)

    check("exactly the accepted uploads exist; delete the bucket", cleanup)

    print(f"post_object: {RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
