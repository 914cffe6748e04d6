package s3api

// TrafficMeter counts each tenant's requests and body bytes, for billing
// (node/metering's Meter is one; cmd/kcs passes it as Config.Meter). It is
// told of every request whose tenant is known once the request is
// answered: op is the S3 operation as RequestObserver has it, status the
// HTTP status answered (499 when the client went away), and the bytes are
// the request body as the object layer read it (aws-chunked framing and
// signatures removed; bodies s3api parses itself, XML documents, are not
// counted) and the response body as sent. What to bill is the meter's
// decision.
//
// The tenant is known for requests that authenticated (header, presigned
// URL, or a POST form's policy). Every other request counts for no one:
// kcs serves no anonymous requests (no public buckets) and answers them
// with AccessDenied, so no bucket's owner is made to pay for strangers'
// refusals; browsers' CORS preflights carry no credentials at all.
type TrafficMeter interface {
	MeterRequest(tenant, op string, status int, bytesIn, bytesOut int64)
}
