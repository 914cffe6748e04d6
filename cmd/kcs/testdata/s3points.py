"""What the boto3 scripts here share: the two clients (writes through one
node over HTTPS, reads through another over HTTP), checks that say what
was expected and what came back, and points that each run on their own
and are all reported. Imported from the scripts' own directory.
"""
import sys
import traceback

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

CONFIG = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3})
failures = []


class Fail(Exception):
    pass


def clients(https_ep, http_ep, ca):
    """The writing client (HTTPS, aws-chunked bodies with trailing
    checksums) and the reading one (HTTP, another node)."""
    return (boto3.client("s3", endpoint_url=https_ep, verify=ca, config=CONFIG),
            boto3.client("s3", endpoint_url=http_ep, config=CONFIG))


def want(what, got, expected):
    if got != expected:
        raise Fail(f"{what}: got {got!r}, want {expected!r}")


def failure(fn):
    """The S3 error code, HTTP status and response headers fn fails with,
    or None."""
    try:
        fn()
    except ClientError as e:
        r = e.response
        return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["ResponseMetadata"].get("HTTPHeaders", {})
    return None


def error_code(fn):
    """The S3 error code and HTTP status fn fails with, or None."""
    f = failure(fn)
    return f and f[:2]


def point(n, name):
    def run(fn):
        try:
            fn()
            print(f"ok {n}: {name}")
        except Exception as e:  # every point is reported, not just the first
            detail = str(e) if isinstance(e, Fail) else traceback.format_exc()
            failures.append(f"point {n} ({name}): {detail}")
        return fn

    return run


def finish():
    """Exits non-zero listing every point that did not hold."""
    if failures:
        sys.exit("\n".join(failures))
    print("all points hold")
