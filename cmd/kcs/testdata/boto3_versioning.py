"""S3 versioning as boto3 sees it, against a real cluster.

usage: boto3_versioning.py HTTPS_ENDPOINT HTTP_ENDPOINT CA_BUNDLE BUCKET_PREFIX

Writes through HTTPS_ENDPOINT and reads every version back through
HTTP_ENDPOINT, another node, right after each write. Each point runs on
its own; the script prints "ok N: ..." per point that holds and exits
non-zero listing every point that does not, with what was expected and
what came back. The S3 reference:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeleteMarker.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html.
"""
import hashlib
import sys

import boto3

from s3points import Fail, want, failure, error_code, point, clients, finish

https_ep, http_ep, ca, prefix = sys.argv[1:5]
PART = 5 * 1024 * 1024

up, down = clients(https_ep, http_ep, ca)


def data(n, seed):
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def sha(b):
    return hashlib.sha256(b).hexdigest()


def versioned_bucket(name):
    up.create_bucket(Bucket=name)
    up.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def check_version(bucket, key, vid, body, what):
    """GET and HEAD of one version by id through the other node."""
    g = down.get_object(Bucket=bucket, Key=key, VersionId=vid)
    got = g["Body"].read()
    want(f"{what}: GET bytes (sha256, {len(got)} of {len(body)} bytes)", sha(got), sha(body))
    want(f"{what}: GET x-amz-version-id", g["ResponseMetadata"]["HTTPHeaders"].get("x-amz-version-id"), vid)
    h = down.head_object(Bucket=bucket, Key=key, VersionId=vid)
    want(f"{what}: HEAD x-amz-version-id", h["ResponseMetadata"]["HTTPHeaders"].get("x-amz-version-id"), vid)
    want(f"{what}: HEAD Content-Length", h["ContentLength"], len(body))
    want(f"{what}: HEAD ETag", h["ETag"], g["ETag"])


def listing(bucket, **kw):
    """One ListObjectVersions page through the other node: the answer, and
    (key, version id, is latest, is a marker) of its versions and of its
    delete markers, each in the answer's order (boto3 splits the two)."""
    r = down.list_object_versions(Bucket=bucket, **kw)
    return r, [(v["Key"], v["VersionId"], v["IsLatest"], False) for v in r.get("Versions", [])], \
        [(m["Key"], m["VersionId"], m["IsLatest"], True) for m in r.get("DeleteMarkers", [])]


V = versioned_bucket(prefix + "-versions")
want("GetBucketVersioning", down.get_bucket_versioning(Bucket=V).get("Status"), "Enabled")
KEY = "akte/bescheid.bin"
small1, big, small2 = data(100, "a"), data(100_000, "b"), data(2000, "c")
mp_parts = [data(PART, "p1"), data(PART, "p2"), data(777, "p3")]
written = []  # (version id, body), oldest first
marker = None


@point(1, "every write is a new version, readable by id through another node at once")
def overwrite():
    for what, body in (("small inline", small1), ("shard-coded > 16 KiB", big), ("small again", small2)):
        r = up.put_object(Bucket=V, Key=KEY, Body=body)
        vid = r.get("VersionId")
        if not vid or vid == "null":
            raise Fail(f"PutObject {what}: VersionId {vid!r}")
        want(f"PutObject {what}: x-amz-version-id", r["ResponseMetadata"]["HTTPHeaders"].get("x-amz-version-id"), vid)
        written.append((vid, body))
        check_version(V, KEY, vid, body, what)
        latest = down.get_object(Bucket=V, Key=KEY)
        want(f"after {what}: latest version id", latest.get("VersionId"), vid)
        want(f"after {what}: latest bytes", sha(latest["Body"].read()), sha(body))
    # A multipart upload is one version.
    u = up.create_multipart_upload(Bucket=V, Key=KEY)
    done = []
    for i, p in enumerate(mp_parts, 1):
        pr = up.upload_part(Bucket=V, Key=KEY, UploadId=u["UploadId"], PartNumber=i, Body=p)
        done.append({"PartNumber": i, "ETag": pr["ETag"]})
    r = up.complete_multipart_upload(Bucket=V, Key=KEY, UploadId=u["UploadId"], MultipartUpload={"Parts": done})
    vid = r.get("VersionId")
    if not vid or vid == "null":
        raise Fail(f"CompleteMultipartUpload: VersionId {vid!r}")
    body = b"".join(mp_parts)
    written.append((vid, body))
    check_version(V, KEY, vid, body, "multipart")
    want("version ids distinct", len({v for v, _ in written}), len(written))
    # Every older version is still there, byte for byte.
    for i, (v, b) in enumerate(written):
        check_version(V, KEY, v, b, f"version {i + 1} after all writes")


@point(2, "a delete adds a delete marker: 404 NoSuchKey with x-amz-delete-marker, 405 by its id")
def delete_marker():
    global marker
    r = up.delete_object(Bucket=V, Key=KEY)
    h = r["ResponseMetadata"]["HTTPHeaders"]
    want("DeleteObject DeleteMarker", r.get("DeleteMarker"), True)
    want("DeleteObject x-amz-delete-marker", h.get("x-amz-delete-marker"), "true")
    marker = r.get("VersionId")
    if not marker or marker == "null" or marker in {v for v, _ in written}:
        raise Fail(f"delete marker's version id {marker!r}")
    code, status, hdrs = failure(lambda: down.get_object(Bucket=V, Key=KEY)) or (None, None, {})
    want("GET after delete", (code, status), ("NoSuchKey", 404))
    want("GET after delete: x-amz-delete-marker", hdrs.get("x-amz-delete-marker"), "true")
    want("GET after delete: x-amz-version-id", hdrs.get("x-amz-version-id"), marker)
    code, status, hdrs = failure(lambda: down.head_object(Bucket=V, Key=KEY)) or (None, None, {})
    want("HEAD after delete", (code, status), ("404", 404))
    want("HEAD after delete: x-amz-delete-marker", hdrs.get("x-amz-delete-marker"), "true")
    code, status, hdrs = failure(lambda: down.get_object(Bucket=V, Key=KEY, VersionId=marker)) or (None, None, {})
    want("GET by the marker's id", (code, status), ("MethodNotAllowed", 405))
    want("GET by the marker's id: x-amz-delete-marker", hdrs.get("x-amz-delete-marker"), "true")
    want("HEAD by the marker's id", error_code(lambda: down.head_object(Bucket=V, Key=KEY, VersionId=marker)), ("405", 405))
    for i, (v, b) in enumerate(written):
        check_version(V, KEY, v, b, f"version {i + 1} behind the marker")
    never = ("1" if marker[0] == "0" else "0") + marker[1:]
    want("GET of a version id that never was", error_code(lambda: down.get_object(Bucket=V, Key=KEY, VersionId=never)),
         ("NoSuchVersion", 404))


@point(3, "ListObjectVersions: newest first, IsLatest, delete markers, pages by key and version-id markers")
def list_versions():
    up.put_object(Bucket=V, Key="akte/anlage.txt", Body=b"anlage 1")
    up.put_object(Bucket=V, Key="akte/anlage.txt", Body=b"anlage 2")
    up.put_object(Bucket=V, Key="akte/zzz.txt", Body=b"z")
    r, vs, ms = listing(V, Prefix="akte/")
    want("IsTruncated", r["IsTruncated"], False)
    mine = [e for e in vs if e[0] == KEY]
    want("versions of the key, newest first", [e[1] for e in mine], [v for v, _ in reversed(written)])
    want("IsLatest of the key's versions (the marker is latest)", [e[2] for e in mine], [False] * len(written))
    want("delete markers", ms, [(KEY, marker, True, True)])
    anl = [e for e in vs if e[0] == "akte/anlage.txt"]
    want("two versions of anlage.txt, the newest latest", [e[2] for e in anl], [True, False])
    sizes = {v["VersionId"]: v["Size"] for v in r["Versions"]}
    for v, b in written:
        want(f"Size of {v}", sizes.get(v), len(b))
    # The whole listing in S3's order: by key, a key's entries newest first
    # (the marker is the newest of its key).
    full = [("akte/anlage.txt", anl[0][1]), ("akte/anlage.txt", anl[1][1]), (KEY, marker)] + \
        [(KEY, v) for v, _ in reversed(written)] + [("akte/zzz.txt", [e for e in vs if e[0] == "akte/zzz.txt"][0][1])]
    for page in (1, 2):
        got, kw, pages = [], {}, 0
        while True:
            r = down.list_object_versions(Bucket=V, Prefix="akte/", MaxKeys=page, **kw)
            pages += 1
            entries = r.get("Versions", []) + r.get("DeleteMarkers", [])
            if len(entries) > page:
                raise Fail(f"max-keys {page}: {len(entries)} entries on a page")
            want(f"max-keys {page}: MaxKeys", r["MaxKeys"], page)
            # boto3 splits Versions and DeleteMarkers: the marker sorts
            # before the versions of its key, so restore the order.
            entries.sort(key=lambda e: full.index((e["Key"], e["VersionId"])) if (e["Key"], e["VersionId"]) in full else -1)
            got += [(e["Key"], e["VersionId"]) for e in entries]
            if not r["IsTruncated"]:
                break
            if not r.get("NextKeyMarker") or not r.get("NextVersionIdMarker"):
                raise Fail(f"max-keys {page}: truncated page without NextKeyMarker/NextVersionIdMarker: {r}")
            want(f"max-keys {page}: NextKeyMarker", r["NextKeyMarker"], got[-1][0])
            want(f"max-keys {page}: NextVersionIdMarker", r["NextVersionIdMarker"], got[-1][1])
            kw = {"KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r["NextVersionIdMarker"]}
            want(f"max-keys {page}: KeyMarker echoed", down.list_object_versions(Bucket=V, Prefix="akte/", MaxKeys=page, **kw)["KeyMarker"], kw["KeyMarker"])
            if pages > 50:
                raise Fail(f"max-keys {page}: no end of pages")
        want(f"all pages of max-keys {page}", got, full)
    # A key marker alone starts after every version of that key.
    r = down.list_object_versions(Bucket=V, Prefix="akte/", KeyMarker=KEY)
    want("after KeyMarker alone", [(v["Key"]) for v in r.get("Versions", [])] + [m["Key"] for m in r.get("DeleteMarkers", [])], ["akte/zzz.txt"])


@point(4, "deleting the delete marker brings the object back")
def undelete():
    r = up.delete_object(Bucket=V, Key=KEY, VersionId=marker)
    want("DeleteObject of the marker: DeleteMarker", r.get("DeleteMarker"), True)
    want("DeleteObject of the marker: VersionId", r.get("VersionId"), marker)
    g = down.get_object(Bucket=V, Key=KEY)
    want("GET after undelete: bytes", sha(g["Body"].read()), sha(written[-1][1]))
    want("GET after undelete: version", g.get("VersionId"), written[-1][0])
    _, vs, ms = listing(V, Prefix=KEY)
    want("markers after undelete", ms, [])
    want("IsLatest after undelete", [e[2] for e in vs], [True] + [False] * (len(written) - 1))
    # Deleting it again is no error (S3: the version is gone).
    up.delete_object(Bucket=V, Key=KEY, VersionId=marker)


@point(5, "CopyObject from an old version by id (x-amz-copy-source-version-id)")
def copy_old():
    old_vid, old_body = written[1]  # the shard-coded one
    r = up.copy_object(Bucket=V, Key="akte/kopie.bin", CopySource={"Bucket": V, "Key": KEY, "VersionId": old_vid})
    want("CopySourceVersionId", r.get("CopySourceVersionId"), old_vid)
    want("x-amz-copy-source-version-id", r["ResponseMetadata"]["HTTPHeaders"].get("x-amz-copy-source-version-id"), old_vid)
    vid = r.get("VersionId")
    if not vid or vid == old_vid:
        raise Fail(f"copy's VersionId {vid!r}")
    check_version(V, "akte/kopie.bin", vid, old_body, "copy of version 2")
    # Onto the same key: the old version becomes the newest again.
    small_vid, small_body = written[0]
    r = up.copy_object(Bucket=V, Key=KEY, CopySource={"Bucket": V, "Key": KEY, "VersionId": small_vid})
    want("restore by copy: CopySourceVersionId", r.get("CopySourceVersionId"), small_vid)
    g = down.get_object(Bucket=V, Key=KEY)
    want("restore by copy: latest bytes", sha(g["Body"].read()), sha(small_body))
    want("restore by copy: latest version", g.get("VersionId"), r.get("VersionId"))
    written.append((r["VersionId"], small_body))


@point(6, "suspended versioning: writes replace the null version, other versions stay")
def suspended():
    b = prefix + "-suspended"
    up.create_bucket(Bucket=b)
    want("GetBucketVersioning of a new bucket", down.get_bucket_versioning(Bucket=b).get("Status"), None)
    up.put_object(Bucket=b, Key="k", Body=b"unversioned")
    up.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    v1 = up.put_object(Bucket=b, Key="k", Body=b"enabled")["VersionId"]
    check_version(b, "k", "null", b"unversioned", "the null version written before versioning")
    up.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    want("GetBucketVersioning", down.get_bucket_versioning(Bucket=b).get("Status"), "Suspended")
    r = up.put_object(Bucket=b, Key="k", Body=b"suspended 1")
    if r.get("VersionId") not in (None, "null"):
        raise Fail(f"PUT while suspended: VersionId {r.get('VersionId')!r}, want null")
    _, vs, ms = listing(b)
    want("after one suspended PUT", vs, [("k", "null", True, False), ("k", v1, False, False)])
    check_version(b, "k", "null", b"suspended 1", "null version after a suspended PUT")
    up.put_object(Bucket=b, Key="k", Body=b"suspended 2")
    _, vs, ms = listing(b)
    want("after two suspended PUTs", vs, [("k", "null", True, False), ("k", v1, False, False)])
    check_version(b, "k", "null", b"suspended 2", "null version replaced")
    check_version(b, "k", v1, b"enabled", "the versioned version kept")
    # A delete while suspended: a delete marker with version id null, in
    # place of the null version.
    r = up.delete_object(Bucket=b, Key="k")
    want("suspended delete: DeleteMarker", r.get("DeleteMarker"), True)
    want("suspended delete: VersionId", r.get("VersionId"), "null")
    _, vs, ms = listing(b)
    want("after the suspended delete: versions", vs, [("k", v1, False, False)])
    want("after the suspended delete: markers", ms, [("k", "null", True, True)])
    want("GET after the suspended delete", error_code(lambda: down.get_object(Bucket=b, Key="k")), ("NoSuchKey", 404))
    check_version(b, "k", v1, b"enabled", "the versioned version after the suspended delete")
    # Versioning again: new versions get ids, the null marker stays.
    up.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    v2 = up.put_object(Bucket=b, Key="k", Body=b"enabled again")["VersionId"]
    _, vs, ms = listing(b)
    want("re-enabled: versions", vs, [("k", v2, True, False), ("k", v1, False, False)])
    want("re-enabled: markers", ms, [("k", "null", False, True)])


@point(7, "DeleteObjects with VersionId entries deletes those versions; without one adds a marker")
def delete_objects():
    b = versioned_bucket(prefix + "-multidel")
    va = [up.put_object(Bucket=b, Key="a", Body=f"a{i}".encode())["VersionId"] for i in range(3)]
    vb = up.put_object(Bucket=b, Key="b", Body=b"b")["VersionId"]
    r = up.delete_objects(Bucket=b, Delete={"Objects": [
        {"Key": "a", "VersionId": va[0]}, {"Key": "a", "VersionId": va[2]}, {"Key": "b"}]})
    want("DeleteObjects errors", r.get("Errors", []), [])
    got = sorted((d["Key"], d.get("VersionId"), d.get("DeleteMarker", False), d.get("DeleteMarkerVersionId")) for d in r["Deleted"])
    mb = [d for d in r["Deleted"] if d["Key"] == "b"]
    mvid = mb[0].get("DeleteMarkerVersionId") if mb else None
    if not mvid or mvid == vb:
        raise Fail(f"DeleteObjects' marker for b: {mb}")
    want("Deleted", got, sorted([("a", va[0], False, None), ("a", va[2], False, None), ("b", None, True, mvid)]))
    _, vs, ms = listing(b)
    want("versions left", vs, [("a", va[1], True, False), ("b", vb, False, False)])
    want("markers", ms, [("b", mvid, True, True)])
    check_version(b, "a", va[1], b"a1", "the version DeleteObjects left")
    # Removing the marker and a version that is gone already, in one request.
    r = up.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "b", "VersionId": mvid}, {"Key": "a", "VersionId": va[0]}]})
    want("second DeleteObjects errors", r.get("Errors", []), [])
    got = sorted((d["Key"], d.get("VersionId"), d.get("DeleteMarker", False), d.get("DeleteMarkerVersionId")) for d in r["Deleted"])
    want("second Deleted", got, [("a", va[0], False, None), ("b", mvid, True, mvid)])
    want("b is back", down.get_object(Bucket=b, Key="b")["Body"].read(), b"b")


@point(8, "deleting the current version by id makes the next newest current, a marker too")
def delete_current():
    b = versioned_bucket(prefix + "-current")
    v1 = up.put_object(Bucket=b, Key="k", Body=data(30_000, "k1"))["VersionId"]
    m = up.delete_object(Bucket=b, Key="k")["VersionId"]
    v2 = up.put_object(Bucket=b, Key="k", Body=b"k2")["VersionId"]
    v3 = up.put_object(Bucket=b, Key="k", Body=data(40_000, "k3"))["VersionId"]
    r = up.delete_object(Bucket=b, Key="k", VersionId=v3)
    want("DeleteObject of the current version", (r.get("VersionId"), r.get("DeleteMarker")), (v3, None))
    g = down.get_object(Bucket=b, Key="k")
    want("current after deleting the newest", (g.get("VersionId"), g["Body"].read()), (v2, b"k2"))
    _, vs, ms = listing(b)
    want("versions", vs, [("k", v2, True, False), ("k", v1, False, False)])
    want("markers", ms, [("k", m, False, True)])
    up.delete_object(Bucket=b, Key="k", VersionId=v2)
    code, status, hdrs = failure(lambda: down.get_object(Bucket=b, Key="k")) or (None, None, {})
    want("GET with a marker current again", (code, status, hdrs.get("x-amz-delete-marker")), ("NoSuchKey", 404, "true"))
    _, vs, ms = listing(b)
    want("markers once the marker is newest", ms, [("k", m, True, True)])
    want("versions once the marker is newest", vs, [("k", v1, False, False)])
    # A range of an old, shard-coded version.
    g = down.get_object(Bucket=b, Key="k", VersionId=v1, Range="bytes=20000-20999")
    want("range of an old version", (g["ContentRange"], g["Body"].read()), ("bytes 20000-20999/30000", data(30_000, "k1")[20000:21000]))
    # Tags per version.
    up.put_object_tagging(Bucket=b, Key="k", VersionId=v1, Tagging={"TagSet": [{"Key": "stand", "Value": "alt"}]})
    t = down.get_object_tagging(Bucket=b, Key="k", VersionId=v1)
    want("tags of a noncurrent version", (t.get("VersionId"), t["TagSet"]), (v1, [{"Key": "stand", "Value": "alt"}]))
    # A copy whose source is a delete marker.
    want("CopyObject from a key whose newest is a marker", error_code(lambda: up.copy_object(
        Bucket=b, Key="kopie", CopySource={"Bucket": b, "Key": "k"})), ("NoSuchKey", 404))
    want("CopyObject from a marker by id", error_code(lambda: up.copy_object(
        Bucket=b, Key="kopie", CopySource={"Bucket": b, "Key": "k", "VersionId": m})), ("InvalidRequest", 400))
    # An unversioned bucket lists its objects' one version, null.
    u = prefix + "-plain"
    up.create_bucket(Bucket=u)
    up.put_object(Bucket=u, Key="k", Body=b"x")
    _, vs, ms = listing(u)
    want("an unversioned bucket's versions", (vs, ms), ([("k", "null", True, False)], []))


finish()
