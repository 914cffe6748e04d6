package s3api

import (
	"encoding/xml"
	"net/http"
	"strings"
	"time"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Object lock: a bucket's configuration (PUT and GET ?object-lock), a
// version's retention (?retention) and legal hold (?legal-hold), and the
// x-amz-object-lock-* headers of writes and reads. The object layer
// decides what a lock allows; s3api parses and validates what S3 would
// refuse on sight, with S3's codes: MalformedXML for a document that
// breaks the schema (an unknown mode, Days and Years together),
// InvalidArgument for values out of range.

const (
	// maxLockBody bounds the object lock documents, which hold a few
	// short elements.
	maxLockBody = 64 << 10
	// S3's upper bounds of a default retention.
	maxRetentionDays  = 36500
	maxRetentionYears = 100
)

// objectLockConfiguration is PutObjectLockConfiguration's document and
// GetObjectLockConfiguration's answer.
type objectLockConfiguration struct {
	XMLName           xml.Name        `xml:"ObjectLockConfiguration"`
	Xmlns             string          `xml:"xmlns,attr,omitempty"`
	ObjectLockEnabled string          `xml:"ObjectLockEnabled,omitempty"`
	Rule              *objectLockRule `xml:"Rule,omitempty"`
}

type objectLockRule struct {
	DefaultRetention *defaultRetention `xml:"DefaultRetention"`
}

type defaultRetention struct {
	Mode  string `xml:"Mode,omitempty"`
	Days  *int   `xml:"Days,omitempty"`
	Years *int   `xml:"Years,omitempty"`
}

// retentionDoc is the Retention document of PutObjectRetention and
// GetObjectRetention.
type retentionDoc struct {
	XMLName         xml.Name `xml:"Retention"`
	Xmlns           string   `xml:"xmlns,attr,omitempty"`
	Mode            string   `xml:"Mode,omitempty"`
	RetainUntilDate string   `xml:"RetainUntilDate,omitempty"`
}

// legalHoldDoc is the LegalHold document of PutObjectLegalHold and
// GetObjectLegalHold.
type legalHoldDoc struct {
	XMLName xml.Name `xml:"LegalHold"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Status  string   `xml:"Status"`
}

// validLockMode reports whether m is one of S3's retention modes.
func validLockMode(m string) bool { return m == objapi.LockGovernance || m == objapi.LockCompliance }

// parseLockConfig validates an ObjectLockConfiguration as S3 does.
func parseLockConfig(doc objectLockConfiguration) (objapi.ObjectLockConfig, error) {
	if doc.ObjectLockEnabled != "Enabled" {
		return objapi.ObjectLockConfig{}, malformedXML("ObjectLockEnabled must be Enabled.")
	}
	cfg := objapi.ObjectLockConfig{Enabled: true}
	if doc.Rule == nil {
		return cfg, nil
	}
	dr := doc.Rule.DefaultRetention
	switch {
	case dr == nil:
		return cfg, malformedXML("a Rule needs a DefaultRetention.")
	case !validLockMode(dr.Mode):
		return cfg, malformedXML("the DefaultRetention's Mode must be GOVERNANCE or COMPLIANCE.")
	case (dr.Days == nil) == (dr.Years == nil):
		return cfg, malformedXML("a DefaultRetention has either Days or Years.")
	}
	cfg.Mode = dr.Mode
	n, limit := dr.Days, maxRetentionDays
	if dr.Years != nil {
		n, limit = dr.Years, maxRetentionYears
	}
	switch {
	case *n <= 0:
		return cfg, errorf("InvalidArgument", "Default retention period must be a positive integer value.")
	case *n > limit:
		return cfg, errorf("InvalidArgument", "Default retention period is too large.")
	}
	if dr.Days != nil {
		cfg.Days = *n
	} else {
		cfg.Years = *n
	}
	return cfg, nil
}

// lockConfigDoc renders a bucket's configuration as S3 answers it.
func lockConfigDoc(cfg objapi.ObjectLockConfig) *objectLockConfiguration {
	doc := &objectLockConfiguration{Xmlns: s3NS}
	if cfg.Enabled {
		doc.ObjectLockEnabled = "Enabled"
	}
	if cfg.Mode != "" {
		dr := &defaultRetention{Mode: cfg.Mode}
		if cfg.Years > 0 {
			y := cfg.Years
			dr.Years = &y
		} else {
			d := cfg.Days
			dr.Days = &d
		}
		doc.Rule = &objectLockRule{DefaultRetention: dr}
	}
	return doc
}

// readConfigDocument reads a bucket or object configuration document that
// S3 requires the integrity of (Content-MD5 or an x-amz-checksum-*),
// after checking that the bucket is the caller's. An empty body is
// MalformedXML.
func (s *Server) readConfigDocument(r *http.Request, rq *request, limit int64, v any) error {
	want, err := requestDigest(r.Header, true)
	if err != nil {
		return err
	}
	if _, err := s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket); err != nil {
		return err
	}
	empty, err := readXMLRequest(rq, want, wholeDocLimits(limit), decodeRoot(v))
	if err != nil {
		return err
	}
	if empty {
		return errorf("MalformedXML", "")
	}
	return nil
}

// putObjectLockConfiguration enables object lock on a bucket and sets its
// default retention (PutObjectLockConfiguration).
func (s *Server) putObjectLockConfiguration(w http.ResponseWriter, r *http.Request, rq *request) error {
	var doc objectLockConfiguration
	if err := s.readConfigDocument(r, rq, maxLockBody, &doc); err != nil {
		return err
	}
	cfg, err := parseLockConfig(doc)
	if err != nil {
		return err
	}
	if err := s.layer.PutObjectLockConfiguration(r.Context(), rq.caller, rq.bucket, cfg); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getObjectLockConfiguration(w http.ResponseWriter, r *http.Request, rq *request) error {
	cfg, err := s.layer.GetObjectLockConfiguration(r.Context(), rq.caller, rq.bucket)
	if err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, lockConfigDoc(cfg))
}

// bypassGovernance reads x-amz-bypass-governance-retention.
func bypassGovernance(h http.Header) (bool, error) {
	switch v := strings.TrimSpace(h.Get("X-Amz-Bypass-Governance-Retention")); {
	case v == "" || strings.EqualFold(v, "false"):
		return false, nil
	case strings.EqualFold(v, "true"):
		return true, nil
	}
	return false, errorf("InvalidArgument", "x-amz-bypass-governance-retention must be true or false.")
}

// parseLockDate reads a retain-until date: ISO 8601 (RFC 3339), as the
// SDKs write it, with or without fractions of a second.
func parseLockDate(v string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// objectVersionRequest reads what every version-level request needs: a
// valid key and the versionId parameter.
func objectVersionRequest(rq *request) (string, error) {
	if err := objapi.ValidObjectKey(rq.key); err != nil {
		return "", err
	}
	return versionParam(rq.query)
}

// putObjectRetention sets or (with an empty Retention) removes a
// version's retention (PutObjectRetention).
func (s *Server) putObjectRetention(w http.ResponseWriter, r *http.Request, rq *request) error {
	vid, err := objectVersionRequest(rq)
	if err != nil {
		return err
	}
	bypass, err := bypassGovernance(r.Header)
	if err != nil {
		return err
	}
	var doc retentionDoc
	if err := s.readConfigDocument(r, rq, maxLockBody, &doc); err != nil {
		return err
	}
	var ret objapi.Retention
	switch {
	case doc.Mode == "" && doc.RetainUntilDate == "":
		// No retention: removes it (a GOVERNANCE one with the bypass).
	case doc.Mode == "" || doc.RetainUntilDate == "":
		return malformedXML("a Retention has both Mode and RetainUntilDate, or neither.")
	case !validLockMode(doc.Mode):
		return malformedXML("the Retention's Mode must be GOVERNANCE or COMPLIANCE.")
	default:
		until, ok := parseLockDate(doc.RetainUntilDate)
		if !ok {
			return malformedXML("RetainUntilDate is not an ISO 8601 date.")
		}
		if !until.After(s.now()) {
			return errorf("InvalidArgument", "The retain until date must be in the future!")
		}
		ret = objapi.Retention{Mode: doc.Mode, Until: until}
	}
	if err := s.layer.PutObjectRetention(r.Context(), rq.caller, rq.bucket, rq.key, vid, ret, bypass); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getObjectRetention(w http.ResponseWriter, r *http.Request, rq *request) error {
	vid, err := objectVersionRequest(rq)
	if err != nil {
		return err
	}
	ret, err := s.layer.GetObjectRetention(r.Context(), rq.caller, rq.bucket, rq.key, vid)
	if err != nil {
		return err
	}
	if ret.Mode == "" {
		return errorf("NoSuchObjectLockConfiguration", "")
	}
	return writeXML(w, http.StatusOK, &retentionDoc{Xmlns: s3NS, Mode: ret.Mode, RetainUntilDate: xmlTime(ret.Until)})
}

// putObjectLegalHold sets or clears a version's legal hold
// (PutObjectLegalHold).
func (s *Server) putObjectLegalHold(w http.ResponseWriter, r *http.Request, rq *request) error {
	vid, err := objectVersionRequest(rq)
	if err != nil {
		return err
	}
	var doc legalHoldDoc
	if err := s.readConfigDocument(r, rq, maxLockBody, &doc); err != nil {
		return err
	}
	var on bool
	switch doc.Status {
	case "ON":
		on = true
	case "OFF":
	default:
		return malformedXML("the LegalHold's Status must be ON or OFF.")
	}
	if err := s.layer.PutObjectLegalHold(r.Context(), rq.caller, rq.bucket, rq.key, vid, on); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getObjectLegalHold(w http.ResponseWriter, r *http.Request, rq *request) error {
	vid, err := objectVersionRequest(rq)
	if err != nil {
		return err
	}
	on, err := s.layer.GetObjectLegalHold(r.Context(), rq.caller, rq.bucket, rq.key, vid)
	if err != nil {
		return err
	}
	doc := legalHoldDoc{Xmlns: s3NS, Status: "OFF"}
	if on {
		doc.Status = "ON"
	}
	return writeXML(w, http.StatusOK, &doc)
}

// lockHeaders reads a write's x-amz-object-lock-* headers (PutObject,
// CopyObject, CreateMultipartUpload, POST forms' fields) into the new
// version's lock: nil without any, which takes the bucket's default
// retention. Mode and date come together; the date must lie ahead of
// now. A legal hold OFF alone asks for nothing a version does not have
// anyway, and is passed on as no header, so that the default retention
// still applies.
func lockHeaders(h http.Header, now time.Time) (*objapi.ObjectLock, error) {
	mode := strings.TrimSpace(h.Get("X-Amz-Object-Lock-Mode"))
	date := strings.TrimSpace(h.Get("X-Amz-Object-Lock-Retain-Until-Date"))
	hold := strings.TrimSpace(h.Get("X-Amz-Object-Lock-Legal-Hold"))
	if mode == "" && date == "" && hold == "" {
		return nil, nil
	}
	var lock objapi.ObjectLock
	switch {
	case (mode == "") != (date == ""):
		return nil, errorf("InvalidArgument", "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
	case mode != "":
		if !validLockMode(mode) {
			return nil, errorf("InvalidArgument", "Unknown wormMode directive.")
		}
		until, ok := parseLockDate(date)
		if !ok {
			return nil, errorf("InvalidArgument", "The retain until date must be provided in ISO 8601 format")
		}
		if !until.After(now) {
			return nil, errorf("InvalidArgument", "The retain until date must be in the future!")
		}
		lock.Mode, lock.Until = mode, until
	}
	switch hold {
	case "":
	case "ON":
		lock.LegalHold = true
	case "OFF":
	default:
		return nil, errorf("InvalidArgument", "Legal Hold must be either of 'ON' or 'OFF'")
	}
	if lock == (objapi.ObjectLock{}) {
		return nil, nil
	}
	return &lock, nil
}

// setLockHeaders writes a version's lock and expiration on GET and HEAD.
func setLockHeaders(h http.Header, info objapi.ObjectInfo) {
	if info.Lock.Mode != "" {
		h.Set("X-Amz-Object-Lock-Mode", info.Lock.Mode)
		h.Set("X-Amz-Object-Lock-Retain-Until-Date", xmlTime(info.Lock.Until))
	}
	if info.Lock.LegalHold {
		h.Set("X-Amz-Object-Lock-Legal-Hold", "ON")
	}
	if info.Expiration != "" {
		h.Set("X-Amz-Expiration", info.Expiration)
	}
}
