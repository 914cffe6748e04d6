"""boto3 with every checksum algorithm it computes without awscrt.

usage: boto3_checksums.py UPLOAD_ENDPOINT DOWNLOAD_ENDPOINT CA_BUNDLE BUCKET OUTDIR SMALL LARGE

For CRC32, SHA1, SHA256 and SHA512: uploads SMALL (one PUT) and LARGE
(multipart, 5 MiB parts) with upload_file and ChecksumAlgorithm, reads the
stored checksums back with ChecksumMode=ENABLED and compares them with
values computed here, independently of the server: the digest of the file
for a single PUT; for a multipart upload the digest of the concatenated
part digests and "-N" (COMPOSITE) or the CRC of the whole file
(FULL_OBJECT), whichever type the server reports. Then downloads both to
OUTDIR/back-ALG-NAME (botocore validates what it can) for the Go test to
compare.
"""
import base64
import hashlib
import os
import sys
import zlib

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

up_ep, down_ep, ca, bucket, outdir, small, large = sys.argv[1:8]
PART = 5 * 1024 * 1024

cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5})
up = boto3.client("s3", endpoint_url=up_ep, verify=ca, config=cfg)
down = boto3.client("s3", endpoint_url=down_ep, verify=ca, config=cfg)
tc = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)


def digest(alg, data):
    if alg == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    return hashlib.new(alg.lower(), data).digest()


def b64(b):
    return base64.b64encode(b).decode()


up.create_bucket(Bucket=bucket)
for alg in ["CRC32", "SHA1", "SHA256", "SHA512"]:
    for path in (small, large):
        name = os.path.basename(path)
        key = f"{alg}/{name}"
        up.upload_file(path, bucket, key, ExtraArgs={"ChecksumAlgorithm": alg}, Config=tc)
        with open(path, "rb") as f:
            data = f.read()
        head = down.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        got = head.get("Checksum" + alg)
        if len(data) < PART:
            want = b64(digest(alg, data))
        else:
            parts = [data[i : i + PART] for i in range(0, len(data), PART)]
            if head.get("ChecksumType") == "FULL_OBJECT":
                want = b64(digest(alg, data))
            else:
                want = b64(digest(alg, b"".join(digest(alg, p) for p in parts))) + f"-{len(parts)}"
        if got != want:
            sys.exit(f"{key}: stored {alg} {got!r} ({head.get('ChecksumType')}), computed {want!r}")
        down.download_file(bucket, key, f"{outdir}/back-{alg}-{name}", Config=tc)
print("ok")
