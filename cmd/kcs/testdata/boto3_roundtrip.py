"""boto3 round trip for the end-to-end tests.

usage: boto3_roundtrip.py UPLOAD_ENDPOINT DOWNLOAD_ENDPOINT CA_BUNDLE BUCKET OUTDIR NAME=PATH...

Creates BUCKET through UPLOAD_ENDPOINT, uploads every file with
upload_file (multipart above 8 MiB, as boto3's transfer manager does;
over HTTPS botocore sends aws-chunked bodies with a trailing CRC32),
lists the bucket and downloads every object through DOWNLOAD_ENDPOINT to
OUTDIR/boto3-NAME, then deletes the objects and the bucket. Exits non-zero
on any mismatch; the Go test compares the downloaded bytes.
"""
import sys

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

up_ep, down_ep, ca, bucket, outdir = sys.argv[1:6]
files = dict(arg.split("=", 1) for arg in sys.argv[6:])

cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5})
up = boto3.client("s3", endpoint_url=up_ep, verify=ca, config=cfg)
down = boto3.client("s3", endpoint_url=down_ep, verify=ca, config=cfg)
tc = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)

up.create_bucket(Bucket=bucket)
for name, path in files.items():
    up.upload_file(path, bucket, "boto3/" + name, Config=tc)

# botocore sent the small files aws-chunked with a trailing CRC32 (HTTPS):
# the server must have verified and kept it.
import base64
import os
import zlib

for name, path in files.items():
    size = os.path.getsize(path)
    if size >= 8 * 1024 * 1024:
        continue
    head = down.head_object(Bucket=bucket, Key="boto3/" + name, ChecksumMode="ENABLED")
    with open(path, "rb") as f:
        want = base64.b64encode(zlib.crc32(f.read()).to_bytes(4, "big")).decode()
    if head.get("ChecksumCRC32") != want:
        sys.exit(f"{name}: stored CRC32 {head.get('ChecksumCRC32')}, want {want}")

listed = {o["Key"]: o["Size"] for o in down.list_objects_v2(Bucket=bucket)["Contents"]}
for name, path in files.items():
    want = os.path.getsize(path)
    got = listed.get("boto3/" + name)
    if got != want:
        sys.exit(f"listing: {name} has size {got}, want {want}")

for name in files:
    down.download_file(bucket, "boto3/" + name, f"{outdir}/boto3-{name}", Config=tc)

for name in files:
    up.delete_object(Bucket=bucket, Key="boto3/" + name)
up.delete_bucket(Bucket=bucket)
print("ok")
