"""S3 object lock as boto3 sees it, with the operator's part through
`kcs admin`, against a real cluster.

usage: boto3_objectlock.py HTTPS_ENDPOINT HTTP_ENDPOINT CA_BUNDLE BUCKET_PREFIX TENANT

The environment carries the tenant's key (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY) and what `kcs admin` needs: KCS_BIN, the binary;
KCS_ADMIN_ENDPOINT, a node's S3 endpoint; KCS_ADMIN_SECRET_FILE.

Writes through HTTPS_ENDPOINT and reads through HTTP_ENDPOINT, another
node. Each point runs on its own (later points use what earlier ones
wrote); the script prints "ok N: ..." per point that holds and exits
non-zero listing every point that does not. The S3 reference:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
(x-amz-object-lock-*: "Content-MD5 or x-amz-sdk-checksum-algorithm header
is required for any request to upload an object with a retention period
configured using Amazon S3 Object Lock"),
https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectRetention.html.
"""
import base64
import datetime
import hashlib
import json
import os
import subprocess
import sys
import time

import boto3
from botocore.config import Config

from s3points import CONFIG, Fail, want, error_code, point, clients, finish

https_ep, http_ep, ca, prefix, tenant = sys.argv[1:6]
kcs, admin_ep = os.environ["KCS_BIN"], os.environ["KCS_ADMIN_ENDPOINT"]

up, down = clients(https_ep, http_ep, ca)
# A client that sends no checksum unless the operation requires one.
bare = boto3.client("s3", endpoint_url=http_ep, config=Config(
    s3={"addressing_style": "path"}, retries={"max_attempts": 3},
    request_checksum_calculation="when_required", response_checksum_validation="when_required"))


def admin(*args, ok=True):
    """Runs kcs admin; returns (exit status, what it printed)."""
    p = subprocess.run([kcs, "admin", "--endpoint", admin_ep, *args], capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    if ok and p.returncode != 0:
        raise Fail(f"kcs admin {' '.join(args)}: exit {p.returncode}\n{out}")
    return p.returncode, out


def sha(b):
    return hashlib.sha256(b).hexdigest()


def md5(b):
    return base64.b64encode(hashlib.md5(b).digest()).decode()


def at(delta):
    """now + delta, in whole seconds, UTC."""
    return (datetime.datetime.now(datetime.timezone.utc) + delta).replace(microsecond=0)


def rfc3339(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read(client, bucket, key, vid):
    return client.get_object(Bucket=bucket, Key=key, VersionId=vid)["Body"].read()


B = prefix + "-akten"
up.create_bucket(Bucket=B, ObjectLockEnabledForBucket=True)
HOUR = datetime.timedelta(hours=1)
compliance = {}  # key -> (version id, body, until)
second_key = {}


@point(1, "a bucket created with object lock is versioned and says so")
def bucket():
    want("GetBucketVersioning", down.get_bucket_versioning(Bucket=B).get("Status"), "Enabled")
    want("GetObjectLockConfiguration", down.get_object_lock_configuration(Bucket=B)["ObjectLockConfiguration"],
         {"ObjectLockEnabled": "Enabled"})


@point(2, "COMPLIANCE: no deletion by id, no shorter retention, no bypass")
def compliance_mode():
    until = at(HOUR)
    body = b"Bescheid unter COMPLIANCE " * 1000  # shard-coded
    r = up.put_object(Bucket=B, Key="bescheid.pdf", Body=body, ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=until, ChecksumAlgorithm="SHA256")
    vid = r["VersionId"]
    body2 = b"klein"  # inline, with Content-MD5
    r2 = up.put_object(Bucket=B, Key="vermerk.txt", Body=body2, ObjectLockMode="COMPLIANCE",
                       ObjectLockRetainUntilDate=until, ContentMD5=md5(body2))
    h = down.head_object(Bucket=B, Key="bescheid.pdf", VersionId=vid)
    want("HEAD ObjectLockMode", h.get("ObjectLockMode"), "COMPLIANCE")
    want("HEAD ObjectLockRetainUntilDate", h.get("ObjectLockRetainUntilDate"), until)
    ret = down.get_object_retention(Bucket=B, Key="vermerk.txt", VersionId=r2["VersionId"])["Retention"]
    want("GetObjectRetention", ret, {"Mode": "COMPLIANCE", "RetainUntilDate": until})
    want("DeleteObject by VersionId", error_code(lambda: up.delete_object(Bucket=B, Key="bescheid.pdf", VersionId=vid)),
         ("AccessDenied", 403))
    want("DeleteObject by VersionId with the bypass", error_code(lambda: up.delete_object(
        Bucket=B, Key="bescheid.pdf", VersionId=vid, BypassGovernanceRetention=True)), ("AccessDenied", 403))
    want("DeleteObjects by VersionId", [e["Code"] for e in up.delete_objects(
        Bucket=B, Delete={"Objects": [{"Key": "bescheid.pdf", "VersionId": vid}]}).get("Errors", [])], ["AccessDenied"])
    shorter = {"Mode": "COMPLIANCE", "RetainUntilDate": at(HOUR / 2)}
    want("shortening COMPLIANCE retention", error_code(lambda: up.put_object_retention(
        Bucket=B, Key="bescheid.pdf", VersionId=vid, Retention=shorter)), ("AccessDenied", 403))
    want("shortening COMPLIANCE retention with the bypass", error_code(lambda: up.put_object_retention(
        Bucket=B, Key="bescheid.pdf", VersionId=vid, Retention=shorter, BypassGovernanceRetention=True)), ("AccessDenied", 403))
    want("COMPLIANCE to GOVERNANCE with the bypass", error_code(lambda: up.put_object_retention(
        Bucket=B, Key="bescheid.pdf", VersionId=vid, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until},
        BypassGovernanceRetention=True)), ("AccessDenied", 403))
    # Extending is allowed.
    longer = at(2 * HOUR)
    up.put_object_retention(Bucket=B, Key="bescheid.pdf", VersionId=vid, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": longer})
    want("extended retention", down.get_object_retention(Bucket=B, Key="bescheid.pdf", VersionId=vid)["Retention"],
         {"Mode": "COMPLIANCE", "RetainUntilDate": longer})
    compliance["bescheid.pdf"] = (vid, body, longer)
    compliance["vermerk.txt"] = (r2["VersionId"], body2, until)
    want("the version after all refusals", sha(read(down, B, "bescheid.pdf", vid)), sha(body))


@point(3, "kcs admin tenant delete is refused while COMPLIANCE retention runs, saying until when, bypass or not")
def tenant_delete():
    vid, body, until = compliance["bescheid.pdf"]
    for extra in ([], ["--bypass-governance"]):
        code, out = admin("tenant", "delete", tenant, "--confirm", tenant, *extra, ok=False)
        if code == 0:
            raise Fail(f"tenant delete {extra} succeeded:\n{out}")
        for s in ("not deleted", rfc3339(until), B + "/"):
            if s not in out:
                raise Fail(f"tenant delete {extra}: the refusal lacks {s!r}:\n{out}")
        print(f"   the refusal {extra}: {out.strip()}")
    want("the tenant's version after the refusals", sha(read(down, B, "bescheid.pdf", vid)), sha(body))


@point(4, "DeleteObject without a version id adds a delete marker over a COMPLIANCE version, which stays readable")
def marker_over_locked():
    vid, body, _ = compliance["bescheid.pdf"]
    r = up.delete_object(Bucket=B, Key="bescheid.pdf")
    want("DeleteMarker", r.get("DeleteMarker"), True)
    want("GET of the key", error_code(lambda: down.get_object(Bucket=B, Key="bescheid.pdf")), ("NoSuchKey", 404))
    want("the locked version by id", sha(read(down, B, "bescheid.pdf", vid)), sha(body))
    # The marker is not locked: removing it brings the version back.
    up.delete_object(Bucket=B, Key="bescheid.pdf", VersionId=r["VersionId"])
    want("after removing the marker", sha(down.get_object(Bucket=B, Key="bescheid.pdf")["Body"].read()), sha(body))
    # Leave the locked version noncurrent for the rotation (point 10).
    up.put_object(Bucket=B, Key="bescheid.pdf", Body=b"neuer Bescheid")


@point(5, "GOVERNANCE: refused without the bypass, and with it from a key not granted it; allowed once granted")
def governance_mode():
    until = at(HOUR)
    vids = [up.put_object(Bucket=B, Key=f"entwurf-{i}.txt", Body=f"Entwurf {i}".encode(), ObjectLockMode="GOVERNANCE",
                          ObjectLockRetainUntilDate=until, ChecksumAlgorithm="CRC32")["VersionId"] for i in range(2)]
    want("DeleteObject without the bypass", error_code(lambda: up.delete_object(Bucket=B, Key="entwurf-0.txt", VersionId=vids[0])),
         ("AccessDenied", 403))
    want("DeleteObject with the bypass, key not granted it", error_code(lambda: up.delete_object(
        Bucket=B, Key="entwurf-0.txt", VersionId=vids[0], BypassGovernanceRetention=True)), ("AccessDenied", 403))
    want("shortening GOVERNANCE retention without the bypass", error_code(lambda: up.put_object_retention(
        Bucket=B, Key="entwurf-1.txt", VersionId=vids[1], Retention={"Mode": "GOVERNANCE", "RetainUntilDate": at(HOUR / 2)})),
        ("AccessDenied", 403))
    # A second key of the tenant, kept for overrides.
    _, out = admin("key", "create", tenant, "--json")
    k = json.loads(out)
    second_key.update(k)
    sess = boto3.session.Session(aws_access_key_id=k["access_key"], aws_secret_access_key=k["secret"], region_name="us-east-1")
    keeper = sess.client("s3", endpoint_url=http_ep, config=CONFIG)
    want("bypass with the second key before the grant", error_code(lambda: keeper.delete_object(
        Bucket=B, Key="entwurf-0.txt", VersionId=vids[0], BypassGovernanceRetention=True)), ("AccessDenied", 403))
    admin("key", "allow-bypass-governance", tenant, k["access_key"])
    r = keeper.delete_object(Bucket=B, Key="entwurf-0.txt", VersionId=vids[0], BypassGovernanceRetention=True)
    want("DeleteObject with the granted bypass: status", r["ResponseMetadata"]["HTTPStatusCode"], 204)
    want("the deleted version", error_code(lambda: down.head_object(Bucket=B, Key="entwurf-0.txt", VersionId=vids[0])), ("404", 404))
    # The grant is the key's alone.
    want("bypass with the first key after granting the second", error_code(lambda: up.delete_object(
        Bucket=B, Key="entwurf-1.txt", VersionId=vids[1], BypassGovernanceRetention=True)), ("AccessDenied", 403))
    # Removing the retention with the granted bypass; then a plain delete.
    keeper.put_object_retention(Bucket=B, Key="entwurf-1.txt", VersionId=vids[1], Retention={}, BypassGovernanceRetention=True)
    want("retention after removal", error_code(lambda: down.get_object_retention(Bucket=B, Key="entwurf-1.txt", VersionId=vids[1])),
         ("NoSuchObjectLockConfiguration", 404))
    up.delete_object(Bucket=B, Key="entwurf-1.txt", VersionId=vids[1])
    # COMPLIANCE still yields to nothing, not even the granted key.
    vid, _, _ = compliance["bescheid.pdf"]
    want("granted bypass on COMPLIANCE", error_code(lambda: keeper.delete_object(
        Bucket=B, Key="bescheid.pdf", VersionId=vid, BypassGovernanceRetention=True)), ("AccessDenied", 403))


@point(6, "a legal hold ON blocks deletion; OFF, without retention, allows it")
def legal_hold():
    vid = up.put_object(Bucket=B, Key="beweis.txt", Body=b"Beweisstueck")["VersionId"]
    up.put_object_legal_hold(Bucket=B, Key="beweis.txt", VersionId=vid, LegalHold={"Status": "ON"})
    want("GetObjectLegalHold", down.get_object_legal_hold(Bucket=B, Key="beweis.txt", VersionId=vid)["LegalHold"], {"Status": "ON"})
    want("HEAD ObjectLockLegalHoldStatus", down.head_object(Bucket=B, Key="beweis.txt", VersionId=vid).get("ObjectLockLegalHoldStatus"), "ON")
    want("DeleteObject under legal hold", error_code(lambda: up.delete_object(Bucket=B, Key="beweis.txt", VersionId=vid)),
         ("AccessDenied", 403))
    want("DeleteObject under legal hold with the bypass", error_code(lambda: up.delete_object(
        Bucket=B, Key="beweis.txt", VersionId=vid, BypassGovernanceRetention=True)), ("AccessDenied", 403))
    # A legal hold set at upload.
    body = b"von Anfang an gehalten"
    vid2 = up.put_object(Bucket=B, Key="beweis-2.txt", Body=body, ObjectLockLegalHoldStatus="ON", ContentMD5=md5(body))["VersionId"]
    want("DeleteObject under a legal hold set at upload", error_code(lambda: up.delete_object(Bucket=B, Key="beweis-2.txt", VersionId=vid2)),
         ("AccessDenied", 403))
    up.put_object_legal_hold(Bucket=B, Key="beweis.txt", VersionId=vid, LegalHold={"Status": "OFF"})
    r = up.delete_object(Bucket=B, Key="beweis.txt", VersionId=vid)
    want("DeleteObject after OFF", (r["ResponseMetadata"]["HTTPStatusCode"], r.get("VersionId")), (204, vid))
    want("the version after deletion", error_code(lambda: down.head_object(Bucket=B, Key="beweis.txt", VersionId=vid)), ("404", 404))
    up.put_object_legal_hold(Bucket=B, Key="beweis-2.txt", VersionId=vid2, LegalHold={"Status": "OFF"})
    up.delete_object(Bucket=B, Key="beweis-2.txt", VersionId=vid2)


@point(7, "a default retention applies to new versions")
def default_retention():
    up.put_object_lock_configuration(Bucket=B, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    want("GetObjectLockConfiguration", down.get_object_lock_configuration(Bucket=B)["ObjectLockConfiguration"],
         {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    before = datetime.datetime.now(datetime.timezone.utc)
    vid = up.put_object(Bucket=B, Key="standard.txt", Body=b"mit Standardaufbewahrung")["VersionId"]
    after = datetime.datetime.now(datetime.timezone.utc)
    ret = down.get_object_retention(Bucket=B, Key="standard.txt", VersionId=vid)["Retention"]
    want("default retention's mode", ret["Mode"], "GOVERNANCE")
    day = datetime.timedelta(days=1)
    if not (before + day - datetime.timedelta(seconds=5) <= ret["RetainUntilDate"] <= after + day + datetime.timedelta(seconds=5)):
        raise Fail(f"default retention's date {ret['RetainUntilDate']}, want a day after {before}")
    h = down.head_object(Bucket=B, Key="standard.txt", VersionId=vid)
    want("HEAD x-amz-object-lock-mode", h["ResponseMetadata"]["HTTPHeaders"].get("x-amz-object-lock-mode"), "GOVERNANCE")
    want("HEAD ObjectLockRetainUntilDate", h.get("ObjectLockRetainUntilDate"), ret["RetainUntilDate"])
    want("DeleteObject of a default-retained version", error_code(lambda: up.delete_object(Bucket=B, Key="standard.txt", VersionId=vid)),
         ("AccessDenied", 403))
    # Explicit lock headers win over the default.
    until = at(2 * HOUR)
    vid2 = up.put_object(Bucket=B, Key="explizit.txt", Body=b"x", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
                         ChecksumAlgorithm="CRC32")["VersionId"]
    want("explicit over default", down.get_object_retention(Bucket=B, Key="explizit.txt", VersionId=vid2)["Retention"],
         {"Mode": "COMPLIANCE", "RetainUntilDate": until})


@point(8, "lock headers without Content-MD5 or a checksum: InvalidRequest")
def no_checksum():
    sent = {}

    def record(request, **kwargs):
        sent.update({k.lower(): v for k, v in request.headers.items()})

    bare.meta.events.register("before-send.s3.PutObject", record)
    try:
        got = error_code(lambda: bare.put_object(Bucket=B, Key="ohne-pruefsumme.txt", Body=b"x", ObjectLockMode="GOVERNANCE",
                                                 ObjectLockRetainUntilDate=at(HOUR)))
    finally:
        bare.meta.events.unregister("before-send.s3.PutObject", record)
    if "content-md5" in sent or any(k.startswith("x-amz-checksum-") or k == "x-amz-sdk-checksum-algorithm" for k in sent):
        raise Fail(f"the client sent a checksum after all: {sorted(sent)}")
    want("PutObject with lock headers, no checksum", got, ("InvalidRequest", 400))
    want("its version", error_code(lambda: down.head_object(Bucket=B, Key="ohne-pruefsumme.txt")), ("404", 404))
    # The same with Content-MD5 is accepted.
    bare.put_object(Bucket=B, Key="ohne-pruefsumme.txt", Body=b"x", ObjectLockMode="GOVERNANCE",
                    ObjectLockRetainUntilDate=at(HOUR), ContentMD5=md5(b"x"))


@point(9, "lock settings on a bucket without object lock: InvalidRequest")
def plain_bucket():
    p = prefix + "-ohne"
    up.create_bucket(Bucket=p)
    vid = up.put_object(Bucket=p, Key="k", Body=b"x").get("VersionId")
    want("PutObject with lock headers", error_code(lambda: up.put_object(
        Bucket=p, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=at(HOUR), ContentMD5=md5(b"x"))),
        ("InvalidRequest", 400))
    want("PutObject with a legal hold", error_code(lambda: up.put_object(
        Bucket=p, Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON", ContentMD5=md5(b"x"))), ("InvalidRequest", 400))
    kw = {"VersionId": vid} if vid else {}
    want("PutObjectRetention", error_code(lambda: up.put_object_retention(
        Bucket=p, Key="k", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": at(HOUR)}, **kw)), ("InvalidRequest", 400))
    want("PutObjectLegalHold", error_code(lambda: up.put_object_legal_hold(Bucket=p, Key="k", LegalHold={"Status": "ON"}, **kw)),
         ("InvalidRequest", 400))
    want("GetObjectRetention", error_code(lambda: down.get_object_retention(Bucket=p, Key="k")), ("InvalidRequest", 400))
    want("GetObjectLockConfiguration", error_code(lambda: down.get_object_lock_configuration(Bucket=p)),
         ("ObjectLockConfigurationNotFoundError", 404))
    # S3: "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration".
    want("PutObjectLockConfiguration on an unversioned bucket", error_code(lambda: up.put_object_lock_configuration(
        Bucket=p, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})), ("InvalidBucketState", 409))
    want("the object after the refusals", down.get_object(Bucket=p, Key="k")["Body"].read(), b"x")


@point(10, "after kcs admin tenant rotate-key, locked noncurrent versions read byte-identical")
def rotation():
    _, out = admin("tenant", "rotate-key", tenant, "--json")
    rot = json.loads(out)
    if rot.get("key_version", 0) < 2:
        raise Fail(f"rotate-key: {rot}")
    deadline = time.time() + 15
    while True:
        _, out = admin("tenant", "list", "--json")
        info = [t for t in json.loads(out) if t["id"] == tenant]
        if info and info[0]["key_version"] == rot["key_version"] and not info[0].get("retiring_versions"):
            break
        if time.time() > deadline:
            raise Fail(f"the rotation did not finish in 15 s: {info}")
        time.sleep(0.2)
    print(f"   rotation: {rot}, then {info}")
    # Fresh clients: no connection or cache from before the rotation.
    fresh = boto3.client("s3", endpoint_url=http_ep, config=CONFIG)
    versions = down.list_object_versions(Bucket=B, Prefix="bescheid.pdf")["Versions"]
    vid, body, until = compliance["bescheid.pdf"]
    want("the locked version is noncurrent", [v["IsLatest"] for v in versions if v["VersionId"] == vid], [False])
    for key, (vid, body, until) in compliance.items():
        g = fresh.get_object(Bucket=B, Key=key, VersionId=vid)
        want(f"{key} {vid} after the rotation", sha(g["Body"].read()), sha(body))
        want(f"{key} {vid}: retention after the rotation", (g.get("ObjectLockMode"), g.get("ObjectLockRetainUntilDate")), ("COMPLIANCE", until))
    want("the current version after the rotation", fresh.get_object(Bucket=B, Key="bescheid.pdf")["Body"].read(), b"neuer Bescheid")
    want("DeleteObject by id after the rotation", error_code(lambda: up.delete_object(Bucket=B, Key="bescheid.pdf", VersionId=compliance["bescheid.pdf"][0])),
         ("AccessDenied", 403))


@point(11, "multipart uploads and copies take lock headers, or the default retention")
def multipart_and_copy():
    until = at(HOUR)
    u = up.create_multipart_upload(Bucket=B, Key="gross.bin", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
                                   ChecksumAlgorithm="CRC32")
    parts = [b"a" * (5 << 20), b"b" * 1000]
    done = []
    for i, p in enumerate(parts, 1):
        r = up.upload_part(Bucket=B, Key="gross.bin", UploadId=u["UploadId"], PartNumber=i, Body=p, ChecksumAlgorithm="CRC32")
        done.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    vid = up.complete_multipart_upload(Bucket=B, Key="gross.bin", UploadId=u["UploadId"], MultipartUpload={"Parts": done})["VersionId"]
    want("multipart's retention", down.get_object_retention(Bucket=B, Key="gross.bin", VersionId=vid)["Retention"],
         {"Mode": "COMPLIANCE", "RetainUntilDate": until})
    want("DeleteObject of the multipart version", error_code(lambda: up.delete_object(Bucket=B, Key="gross.bin", VersionId=vid)),
         ("AccessDenied", 403))
    # A copy does not take the source's lock: the bucket's default
    # (GOVERNANCE, a day, point 7) applies, or the request's headers.
    cv = up.copy_object(Bucket=B, Key="gross-kopie.bin", CopySource={"Bucket": B, "Key": "gross.bin", "VersionId": vid})["VersionId"]
    want("copy's retention mode", down.get_object_retention(Bucket=B, Key="gross-kopie.bin", VersionId=cv)["Retention"]["Mode"], "GOVERNANCE")
    until2 = at(2 * HOUR)
    cv2 = up.copy_object(Bucket=B, Key="gross-kopie-2.bin", CopySource={"Bucket": B, "Key": "gross.bin", "VersionId": vid},
                         ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until2)["VersionId"]
    want("copy with lock headers", down.get_object_retention(Bucket=B, Key="gross-kopie-2.bin", VersionId=cv2)["Retention"],
         {"Mode": "COMPLIANCE", "RetainUntilDate": until2})
    want("copy's bytes", sha(read(down, B, "gross-kopie.bin", cv)), sha(b"".join(parts)))


finish()
