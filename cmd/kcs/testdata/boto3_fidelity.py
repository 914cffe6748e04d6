"""S3 as boto3 sees it: the answers where kcs and S3 used to differ (issue 15).

usage: boto3_fidelity.py HTTPS_ENDPOINT HTTP_ENDPOINT CA_BUNDLE BUCKET_PREFIX

Writes through HTTPS_ENDPOINT (boto3 sends aws-chunked bodies with
trailing checksums there) and reads through HTTP_ENDPOINT, another node.
Each point runs on its own; the script prints "ok N: ..." per point that
holds and exits non-zero listing every point that does not, with what
was expected and what came back.
"""
import base64
import datetime
import email.header
import hashlib
import hmac
import json
import sys
import zlib

import boto3
import urllib3

from s3points import want, error_code, point, clients, finish

https_ep, http_ep, ca, prefix = sys.argv[1:5]
PART = 5 * 1024 * 1024
ak = boto3.session.Session().get_credentials().access_key
sk = boto3.session.Session().get_credentials().secret_key

up, down = clients(https_ep, http_ep, ca)


def crc32(b):
    return base64.b64encode(zlib.crc32(b).to_bytes(4, "big")).decode()


def data(n, seed):
    out = bytearray()
    block = hashlib.sha256(bytes([seed])).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def multipart(bucket, key, parts, **create):
    """Uploads parts with CRC32 checksums, completes them, returns the
    upload id, the parts as completed and Complete's answer."""
    u = up.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32", **create)
    done = []
    for i, p in enumerate(parts, 1):
        r = up.upload_part(Bucket=bucket, Key=key, UploadId=u["UploadId"], PartNumber=i, Body=p, ChecksumAlgorithm="CRC32")
        done.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    out = up.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=u["UploadId"], MultipartUpload={"Parts": done})
    return u["UploadId"], done, out


bucket = prefix + "-objects"
up.create_bucket(Bucket=bucket)
parts = [data(PART, 1), data(PART, 2), data(1234, 3)]
composite_id, composite_parts, composite_done = multipart(bucket, "composite", parts)
multipart(bucket, "full", parts, ChecksumType="FULL_OBJECT")
multipart(bucket, "full-one", parts[2:], ChecksumType="FULL_OBJECT")


@point(1, "user metadata keys in lower case, values beyond US-ASCII as S3 returns them")
def metadata():
    # "Amazon S3 stores user-defined metadata keys in lowercase." Values
    # beyond US-ASCII "are character decoded as per RFC 2047 before storing
    # and encoded as per RFC 2047 [...] before returning"
    # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html).
    def raw_header(request, **kwargs):
        # boto3 refuses non-ASCII metadata values; applications send them
        # as a header of their own, signed, which botocore sends in UTF-8.
        # (One byte of ISO-8859-1 is read as such too, s3api's
        # TestUserMetaAsS3; botocore cannot sign one.)
        request.headers["x-amz-meta-utf8"] = "Müller"

    up.meta.events.register("before-sign.s3.PutObject", raw_header)
    try:
        up.put_object(Bucket=bucket, Key="meta", Body=b"x",
                      Metadata={"Aktenzeichen": "az-17", "rfc2047": "=?UTF-8?Q?M=C3=BCller?="})
    finally:
        up.meta.events.unregister("before-sign.s3.PutObject", raw_header)
    encoded = "=?UTF-8?B?" + base64.b64encode("Müller".encode()).decode() + "?="
    expected = {"aktenzeichen": "az-17", "utf8": encoded, "rfc2047": encoded}
    for how, got in (("HEAD", down.head_object(Bucket=bucket, Key="meta")),
                     ("GET", down.get_object(Bucket=bucket, Key="meta"))):
        want(f"{how} Metadata", got["Metadata"], expected)
        want(f"{how} ['aktenzeichen']", got["Metadata"].get("aktenzeichen"), "az-17")
        for k in ("utf8", "rfc2047"):
            ((text, charset),) = email.header.decode_header(got["Metadata"][k])
            want(f"{how} {k} decoded", text.decode(charset), "Müller")


@point(2, "GetObjectAttributes lists the parts, their sizes and checksums, a page at a time")
def attributes():
    # ObjectParts: PartsCount, Part (PartNumber, Size, ChecksumCRC32),
    # MaxParts, PartNumberMarker, NextPartNumberMarker, IsTruncated
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html,
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributesParts.html).
    sizes = [{"PartNumber": i, "Size": len(p), "ChecksumCRC32": crc32(p)} for i, p in enumerate(parts, 1)]
    a = down.get_object_attributes(Bucket=bucket, Key="composite", ObjectAttributes=["ObjectParts", "Checksum", "ETag"])
    want("ObjectParts", a["ObjectParts"], {"TotalPartsCount": 3, "PartNumberMarker": 0, "NextPartNumberMarker": 3,
                                            "MaxParts": 1000, "IsTruncated": False, "Parts": sizes})
    want("ETag (unquoted, as S3 gives it here)", a["ETag"], composite_done["ETag"].strip('"'))
    # The COMPOSITE checksum without its "-3": the count is ObjectParts'.
    want("Checksum", a["Checksum"], {"ChecksumCRC32": composite_done["ChecksumCRC32"].split("-")[0], "ChecksumType": "COMPOSITE"})
    a = down.get_object_attributes(Bucket=bucket, Key="composite", ObjectAttributes=["ObjectParts"], MaxParts=2)
    want("first page", a["ObjectParts"], {"TotalPartsCount": 3, "PartNumberMarker": 0, "NextPartNumberMarker": 2,
                                          "MaxParts": 2, "IsTruncated": True, "Parts": sizes[:2]})
    a = down.get_object_attributes(Bucket=bucket, Key="composite", ObjectAttributes=["ObjectParts"], MaxParts=2, PartNumberMarker=2)
    want("second page", a["ObjectParts"], {"TotalPartsCount": 3, "PartNumberMarker": 2, "NextPartNumberMarker": 3,
                                           "MaxParts": 2, "IsTruncated": False, "Parts": sizes[2:]})
    # A FULL_OBJECT checksum is not formed from the parts': S3 gives the
    # count alone (AWS support on https://github.com/boto/boto3/issues/3509;
    # LocalStack's AWS-validated get_object_attributes).
    a = down.get_object_attributes(Bucket=bucket, Key="full", ObjectAttributes=["ObjectParts"])
    want("FULL_OBJECT ObjectParts", a["ObjectParts"], {"TotalPartsCount": 3})


@point(3, "part reads with x-amz-checksum-mode: ENABLED carry the part's checksum and type")
def part_reads():
    # GetObject and HeadObject with partNumber and ChecksumMode
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html):
    # botocore checks the part's body against the checksum it gets.
    for n, p in enumerate(parts, 1):
        g = down.get_object(Bucket=bucket, Key="composite", PartNumber=n, ChecksumMode="ENABLED")
        body = g["Body"].read()
        want(f"part {n} body", body == p, True)
        want(f"GET part {n} checksum", (g.get("ChecksumCRC32"), g.get("ChecksumType")), (crc32(p), "COMPOSITE"))
        want(f"GET part {n} parts count", g.get("PartsCount"), 3)
        h = down.head_object(Bucket=bucket, Key="composite", PartNumber=n, ChecksumMode="ENABLED")
        want(f"HEAD part {n} checksum", (h.get("ChecksumCRC32"), h.get("ChecksumType")), (crc32(p), "COMPOSITE"))
    # FULL_OBJECT: a part that is the whole object carries the object's
    # checksum; a part of several has none to carry (S3 keeps the whole
    # object's CRC, as LocalStack's AWS-validated tests record).
    g = down.get_object(Bucket=bucket, Key="full-one", PartNumber=1, ChecksumMode="ENABLED")
    g["Body"].read()
    want("FULL_OBJECT one part", (g.get("ChecksumCRC32"), g.get("ChecksumType")), (crc32(parts[2]), "FULL_OBJECT"))
    h = down.head_object(Bucket=bucket, Key="full", PartNumber=1, ChecksumMode="ENABLED")
    want("FULL_OBJECT part 1 of 3", (h.get("ChecksumCRC32"), h.get("ChecksumType")), (None, None))


@point(4, "a CompleteMultipartUpload retried after it succeeded answers 200, same ETag and checksums")
def complete_again():
    # SDKs retry a completion whose answer timed out. The reference
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html)
    # does not say how S3 answers; runs against S3 show 200 with the object
    # (https://github.com/minio/minio/issues/13318,
    # https://github.com/adobe/S3Mock/issues/2586).
    again = down.complete_multipart_upload(Bucket=bucket, Key="composite", UploadId=composite_id,
                                           MultipartUpload={"Parts": composite_parts})
    for k in ("ETag", "ChecksumCRC32", "ChecksumType", "Bucket", "Key"):
        want(f"retried Complete {k}", again.get(k), composite_done.get(k))
    # Another list of parts is not a retry.
    want("Complete with other parts", error_code(lambda: down.complete_multipart_upload(
        Bucket=bucket, Key="composite", UploadId=composite_id, MultipartUpload={"Parts": composite_parts[:2]})),
        ("NoSuchUpload", 404))


@point(5, "POST policy documents are read case-sensitively")
def post_policy():
    # "expiration" and "conditions", as the reference spells them
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html).
    http = urllib3.PoolManager()
    now = datetime.datetime.now(datetime.timezone.utc)
    date, stamp = now.strftime("%Y%m%d"), now.strftime("%Y%m%dT%H%M%SZ")
    cred = f"{ak}/{date}/us-east-1/s3/aws4_request"
    key = hmac.new(("AWS4" + sk).encode(), date.encode(), hashlib.sha256).digest()
    for part in ("us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()

    def post(exp_key, cond_key, obj):
        fields = {"key": obj, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": cred, "x-amz-date": stamp}
        policy = {exp_key: (now + datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                  cond_key: [{"bucket": bucket}] + [{k: v} for k, v in fields.items()]}
        fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
        fields["x-amz-signature"] = hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()
        fields["file"] = ("antrag.txt", b"Antrag")
        r = http.request("POST", f"{http_ep}/{bucket}", fields=fields)
        return r.status, r.data.decode(errors="replace")

    status, body = post("expiration", "conditions", "post/ok.txt")
    want(f"POST with a valid policy ({body})", status, 204)
    for exp_key, cond_key in (("expiration", "CONDITIONS"), ("EXPIRATION", "conditions"), ("Expiration", "Conditions")):
        status, body = post(exp_key, cond_key, f"post/{exp_key}-{cond_key}.txt")
        want(f'POST with "{exp_key}" and "{cond_key}"', (status, "<Code>InvalidPolicyDocument</Code>" in body), (400, True))
        want(f'object of the refused POST ("{cond_key}")', error_code(lambda: down.head_object(Bucket=bucket, Key=f"post/{exp_key}-{cond_key}.txt")),
             ("404", 404))


@point(6, "Content-Encoding is kept as the client wrote it")
def content_encoding():
    # Over HTTPS botocore sends "deflate, gzip,aws-chunked": aws-chunked
    # describes the transfer and goes; the rest is the object's
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html,
    # Content-Encoding).
    sent = {}

    def record(request, **kwargs):
        v = request.headers.get("Content-Encoding")
        sent["Content-Encoding"] = v.decode() if isinstance(v, bytes) else v

    up.meta.events.register("before-send.s3.PutObject", record)
    try:
        up.put_object(Bucket=bucket, Key="enc-https", Body=b"\x00" * 100, ContentEncoding="deflate, gzip")
    finally:
        up.meta.events.unregister("before-send.s3.PutObject", record)
    want("Content-Encoding botocore sent over https", sent["Content-Encoding"], "deflate, gzip,aws-chunked")
    down.put_object(Bucket=bucket, Key="enc-http", Body=b"\x00" * 100, ContentEncoding="deflate, gzip")
    for name in ("https", "http"):
        h = down.head_object(Bucket=bucket, Key=f"enc-{name}")
        want(f"Content-Encoding written over {name}", h.get("ContentEncoding"), "deflate, gzip")


@point(7, "DeleteBucket deletes a bucket holding only unfinished uploads, and aborts them")
def delete_bucket():
    # All objects must be deleted first
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucket.html);
    # uploads in progress hold up only directory buckets
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html).
    b = prefix + "-uploads"
    up.create_bucket(Bucket=b)
    u = up.create_multipart_upload(Bucket=b, Key="halb.bin")
    up.upload_part(Bucket=b, Key="halb.bin", UploadId=u["UploadId"], PartNumber=1, Body=data(100_000, 4))
    up.create_multipart_upload(Bucket=b, Key="leer.bin")
    up.put_object(Bucket=b, Key="ganz.bin", Body=b"x")
    want("DeleteBucket with an object and uploads", error_code(lambda: down.delete_bucket(Bucket=b)), ("BucketNotEmpty", 409))
    want("uploads after the refused DeleteBucket", len(down.list_multipart_uploads(Bucket=b).get("Uploads", [])), 2)
    down.delete_object(Bucket=b, Key="ganz.bin")
    r = down.delete_bucket(Bucket=b)
    want("DeleteBucket status", r["ResponseMetadata"]["HTTPStatusCode"], 204)
    want("HeadBucket after DeleteBucket", error_code(lambda: up.head_bucket(Bucket=b)), ("404", 404))
    up.create_bucket(Bucket=b)
    want("the new bucket's uploads", down.list_multipart_uploads(Bucket=b).get("Uploads", []), [])
    want("the aborted upload", error_code(lambda: down.list_parts(Bucket=b, Key="halb.bin", UploadId=u["UploadId"])), ("NoSuchUpload", 404))
    down.delete_bucket(Bucket=b)


finish()
