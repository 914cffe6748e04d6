package s3api

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Bucket lifecycle (PUT, GET and DELETE ?lifecycle): rules that expire
// current versions, noncurrent versions and delete markers, and abort
// forgotten multipart uploads. s3api parses and validates a configuration
// as S3 does and hands the object layer []objapi.LifecycleRule; the
// object layer applies them. kcs has one storage class, so transitions
// (Transition, NoncurrentVersionTransition) are NotImplemented.
//
// A rule's legacy top-level Prefix means a Filter with that prefix; the
// object layer remembers which form a rule came in, and GET answers it in
// that form (S3 does, and clients compare what they read with what they
// wrote).

const (
	// maxLifecycleRules is S3's limit of rules per configuration.
	maxLifecycleRules = 1000
	// maxLifecycleRuleID is S3's limit on a rule's ID, in characters.
	maxLifecycleRuleID = 255
	// maxLifecycleFilterTags bounds the tags of one filter: an object
	// has at most maxTags, so a filter of more matches nothing.
	maxLifecycleFilterTags = maxTags
	// maxLifecycleBody bounds the document: 1000 rules with a prefix of
	// 1024 bytes (escaped up to six times longer), tags and markup.
	maxLifecycleBody = 8 << 20
	// maxNewerNoncurrent is S3's limit on NewerNoncurrentVersions.
	maxNewerNoncurrent = 100
)

// lifecycleLimits bound the document while it is read, a Rule at a time:
// a rule has at most about 50 elements (ten tags of three).
var lifecycleLimits = listDocLimits(maxLifecycleBody, 64*maxLifecycleRules+64)

// lifecycleDoc is PutBucketLifecycleConfiguration's document, read a
// Rule at a time (read). Elements are decoded into slices so that one
// given twice is told apart from one given once.
type lifecycleDoc struct {
	Rules []lifecycleRuleXML
}

type lifecycleRuleXML struct {
	ID                             []string
	Status                         []string
	Prefix                         []string
	Filter                         []lifecycleFilterXML
	Expiration                     []lifecycleExpirationXML
	NoncurrentVersionExpiration    []noncurrentExpirationXML
	AbortIncompleteMultipartUpload []abortIncompleteXML
	Transition                     []transitionXML
	NoncurrentVersionTransition    []transitionXML
}

// transitionXML is a Transition or NoncurrentVersionTransition: validated
// as S3 does, then refused as not implemented.
type transitionXML struct {
	Days           []string
	Date           []string
	NoncurrentDays []string
	StorageClass   []string
}

type lifecycleFilterXML struct {
	Prefix                []string
	Tag                   []xmlTag
	ObjectSizeGreaterThan []string
	ObjectSizeLessThan    []string
	And                   []lifecycleAndXML
}

type lifecycleAndXML struct {
	Prefix                []string
	Tag                   []xmlTag
	ObjectSizeGreaterThan []string
	ObjectSizeLessThan    []string
}

type lifecycleExpirationXML struct {
	Days                      []string
	Date                      []string
	ExpiredObjectDeleteMarker []string
}

type noncurrentExpirationXML struct {
	NoncurrentDays          []string
	NewerNoncurrentVersions []string
}

type abortIncompleteXML struct {
	DaysAfterInitiation []string
}

// read reads the document from its root, one Rule at a time, and stops
// at the first beyond maxLifecycleRules.
func (doc *lifecycleDoc) read(d *xml.Decoder, root xml.StartElement) error {
	if root.Name.Local != "LifecycleConfiguration" {
		return malformedXML("the root element is not LifecycleConfiguration.")
	}
	return eachChild(d, func(child xml.StartElement) error {
		if child.Name.Local != "Rule" {
			return d.Skip()
		}
		if len(doc.Rules) == maxLifecycleRules {
			return errorf("InvalidArgument", fmt.Sprintf("The lifecycle configuration cannot have more than %d rules.", maxLifecycleRules))
		}
		var rule lifecycleRuleXML
		if err := d.DecodeElement(&rule, &child); err != nil {
			return err
		}
		doc.Rules = append(doc.Rules, rule)
		return nil
	})
}

// atMostOne returns the one value of an element that may be given once:
// "" and false when absent, MalformedXML when repeated.
func atMostOne[T any](vs []T, name string) (T, bool, error) {
	var zero T
	switch len(vs) {
	case 0:
		return zero, false, nil
	case 1:
		return vs[0], true, nil
	}
	return zero, false, malformedXML(name + " is given more than once.")
}

// positiveDays parses a count of days (or versions): a 32-bit integer,
// which must be positive (InvalidArgument with msg otherwise).
func positiveDays(v, name, msg string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil {
		return 0, malformedXML(name + " is not an integer.")
	}
	if n <= 0 {
		return 0, errorf("InvalidArgument", msg)
	}
	return int(n), nil
}

// lifecycleDate parses an Expiration's Date: ISO 8601 at midnight UTC.
func lifecycleDate(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil || t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, errorf("InvalidArgument", "'Date' must be at midnight GMT")
	}
	t = t.UTC()
	if !t.Equal(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)) {
		return time.Time{}, errorf("InvalidArgument", "'Date' must be at midnight GMT")
	}
	return t, nil
}

// parseLifecycle validates a configuration as S3 does and returns its
// rules.
func parseLifecycle(doc lifecycleDoc) ([]objapi.LifecycleRule, error) {
	if len(doc.Rules) == 0 {
		return nil, malformedXML("a LifecycleConfiguration needs at least one Rule.")
	}
	rules := make([]objapi.LifecycleRule, 0, len(doc.Rules))
	ids := make(map[string]bool, len(doc.Rules))
	for _, x := range doc.Rules {
		rule, err := parseLifecycleRule(x)
		if err != nil {
			return nil, err
		}
		if ids[rule.ID] {
			return nil, errorf("InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule")
		}
		ids[rule.ID] = true
		rules = append(rules, rule)
	}
	return rules, nil
}

func parseLifecycleRule(x lifecycleRuleXML) (objapi.LifecycleRule, error) {
	var rule objapi.LifecycleRule
	id, _, err := atMostOne(x.ID, "ID")
	if err != nil {
		return rule, err
	}
	switch {
	case len([]rune(id)) > maxLifecycleRuleID:
		return rule, errorf("InvalidArgument", fmt.Sprintf("ID length should not exceed allowed limit of %d", maxLifecycleRuleID))
	case id == "":
		// S3 names a rule sent without an ID.
		id = newRuleID()
	}
	rule.ID = id
	status, _, err := atMostOne(x.Status, "Status")
	if err != nil {
		return rule, err
	}
	switch status {
	case "Enabled":
		rule.Enabled = true
	case "Disabled":
	default:
		return rule, malformedXML("a Rule's Status must be Enabled or Disabled.")
	}

	prefix, hasPrefix, err := atMostOne(x.Prefix, "Prefix")
	if err != nil {
		return rule, err
	}
	filter, hasFilter, err := atMostOne(x.Filter, "Filter")
	if err != nil {
		return rule, err
	}
	switch {
	case hasPrefix && hasFilter:
		return rule, errorf("InvalidArgument", "The Filter and Prefix elements are mutually exclusive. You can specify one or the other, but not both.")
	case hasPrefix:
		rule.Filter.Prefix, rule.LegacyPrefix = prefix, true
	case hasFilter:
		if rule.Filter, err = parseLifecycleFilter(filter); err != nil {
			return rule, err
		}
	}
	if len(rule.Filter.Prefix) > objapi.MaxKeyLen {
		return rule, errorf("InvalidArgument", "The prefix is longer than the longest key.")
	}
	tagged := len(rule.Filter.Tags) > 0
	sized := rule.Filter.ObjectSizeGreaterThan > 0 || rule.Filter.ObjectSizeLessThan > 0

	if len(x.Transition) > 0 || len(x.NoncurrentVersionTransition) > 0 {
		// A malformed transition is the client's error whatever the
		// server implements; a valid one is refused as not implemented.
		for _, tr := range slices.Concat(x.Transition, x.NoncurrentVersionTransition) {
			if err := checkTransition(tr); err != nil {
				return rule, err
			}
		}
		return rule, errorf("NotImplemented", "Lifecycle transitions are not implemented: every object is stored in the STANDARD storage class.")
	}
	exp, hasExp, err := atMostOne(x.Expiration, "Expiration")
	if err != nil {
		return rule, err
	}
	nve, hasNVE, err := atMostOne(x.NoncurrentVersionExpiration, "NoncurrentVersionExpiration")
	if err != nil {
		return rule, err
	}
	abort, hasAbort, err := atMostOne(x.AbortIncompleteMultipartUpload, "AbortIncompleteMultipartUpload")
	if err != nil {
		return rule, err
	}
	if !hasExp && !hasNVE && !hasAbort {
		return rule, errorf("InvalidArgument", "At least one action needs to be specified in a rule")
	}
	if hasExp {
		if err := parseExpiration(exp, &rule, tagged); err != nil {
			return rule, err
		}
	}
	if hasNVE {
		days, ok, err := atMostOne(nve.NoncurrentDays, "NoncurrentDays")
		if err != nil {
			return rule, err
		}
		if !ok {
			return rule, malformedXML("a NoncurrentVersionExpiration needs NoncurrentDays.")
		}
		if rule.NoncurrentDays, err = positiveDays(days, "NoncurrentDays", "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"); err != nil {
			return rule, err
		}
		newer, ok, err := atMostOne(nve.NewerNoncurrentVersions, "NewerNoncurrentVersions")
		if err != nil {
			return rule, err
		}
		if ok {
			msg := fmt.Sprintf("'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer up to %d", maxNewerNoncurrent)
			if rule.NewerNoncurrentVersions, err = positiveDays(newer, "NewerNoncurrentVersions", msg); err != nil {
				return rule, err
			}
			if rule.NewerNoncurrentVersions > maxNewerNoncurrent {
				return rule, errorf("InvalidArgument", msg)
			}
		}
	}
	if hasAbort {
		days, ok, err := atMostOne(abort.DaysAfterInitiation, "DaysAfterInitiation")
		if err != nil {
			return rule, err
		}
		if !ok {
			return rule, malformedXML("an AbortIncompleteMultipartUpload needs DaysAfterInitiation.")
		}
		if rule.AbortIncompleteDays, err = positiveDays(days, "DaysAfterInitiation", "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"); err != nil {
			return rule, err
		}
		switch {
		case tagged:
			return rule, errorf("InvalidArgument", "AbortIncompleteMultipartUpload cannot be specified with Tags.")
		case sized:
			return rule, errorf("InvalidArgument", "AbortIncompleteMultipartUpload cannot be specified with an object size filter.")
		}
	}
	return rule, nil
}

// parseExpiration reads an Expiration: exactly one of Days, Date and
// ExpiredObjectDeleteMarker.
func parseExpiration(exp lifecycleExpirationXML, rule *objapi.LifecycleRule, tagged bool) error {
	days, hasDays, err := atMostOne(exp.Days, "Days")
	if err != nil {
		return err
	}
	date, hasDate, err := atMostOne(exp.Date, "Date")
	if err != nil {
		return err
	}
	marker, hasMarker, err := atMostOne(exp.ExpiredObjectDeleteMarker, "ExpiredObjectDeleteMarker")
	if err != nil {
		return err
	}
	switch n := btoi(hasDays) + btoi(hasDate) + btoi(hasMarker); {
	case n == 0:
		return malformedXML("an Expiration needs Days, Date or ExpiredObjectDeleteMarker.")
	case n > 1 && hasMarker:
		return errorf("InvalidArgument", "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy.")
	case n > 1:
		return malformedXML("an Expiration has either Days or Date.")
	}
	switch {
	case hasDays:
		rule.ExpirationDays, err = positiveDays(days, "Days", "'Days' for Expiration action must be a positive integer")
		return err
	case hasDate:
		rule.ExpirationDate, err = lifecycleDate(date)
		return err
	}
	if !strings.EqualFold(strings.TrimSpace(marker), "true") {
		return errorf("InvalidArgument", "ExpiredObjectDeleteMarker must be true when specified.")
	}
	if tagged {
		return errorf("InvalidArgument", "ExpiredObjectDeleteMarker cannot be specified with Tags.")
	}
	rule.ExpiredObjectDeleteMarker = true
	return nil
}

// checkTransition validates a transition: one of Days, Date and
// NoncurrentDays, and a storage class.
func checkTransition(tr transitionXML) error {
	if len(tr.Days)+len(tr.Date)+len(tr.NoncurrentDays) != 1 {
		return malformedXML("a Transition has one of Days, Date and NoncurrentDays.")
	}
	for _, v := range slices.Concat(tr.Days, tr.NoncurrentDays) {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32); err != nil || n < 0 {
			return errorf("InvalidArgument", "'Days' in a Transition action must be a nonnegative integer")
		}
	}
	for _, v := range tr.Date {
		if _, err := lifecycleDate(v); err != nil {
			return err
		}
	}
	if len(tr.StorageClass) != 1 || strings.TrimSpace(tr.StorageClass[0]) == "" {
		return malformedXML("a Transition names one StorageClass.")
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseLifecycleFilter reads a Filter: nothing (every object), or one of
// Prefix, Tag and And, or object sizes (both bounds may stand together).
func parseLifecycleFilter(x lifecycleFilterXML) (objapi.LifecycleFilter, error) {
	var f objapi.LifecycleFilter
	sizes := len(x.ObjectSizeGreaterThan) + len(x.ObjectSizeLessThan)
	kinds := len(x.Prefix) + len(x.Tag) + len(x.And) + min(sizes, 1)
	if kinds > 1 || len(x.ObjectSizeGreaterThan) > 1 || len(x.ObjectSizeLessThan) > 1 {
		return f, malformedXML("a Filter holds one of Prefix, Tag, object sizes and And; combine them in And.")
	}
	var err error
	switch {
	case len(x.Prefix) == 1:
		f.Prefix = x.Prefix[0]
	case len(x.Tag) == 1:
		f.Tags, err = filterTags(x.Tag)
	case len(x.And) == 1:
		and := x.And[0]
		if len(and.Prefix) > 1 || len(and.ObjectSizeGreaterThan) > 1 || len(and.ObjectSizeLessThan) > 1 {
			return f, malformedXML("an And holds at most one Prefix and one of each object size.")
		}
		if len(and.Prefix) == 1 {
			f.Prefix = and.Prefix[0]
		}
		if f.Tags, err = filterTags(and.Tag); err != nil {
			return f, err
		}
		err = filterSizes(&f, and.ObjectSizeGreaterThan, and.ObjectSizeLessThan)
	default:
		err = filterSizes(&f, x.ObjectSizeGreaterThan, x.ObjectSizeLessThan)
	}
	return f, err
}

// filterTags checks a filter's tags as object tags are checked: each
// with a Key and a Value (which may be empty).
func filterTags(xs []xmlTag) ([]objapi.Tag, error) {
	if len(xs) == 0 {
		return nil, nil
	}
	if len(xs) > maxLifecycleFilterTags {
		return nil, errorf("InvalidArgument", fmt.Sprintf("A lifecycle filter has at most %d tags.", maxLifecycleFilterTags))
	}
	tags := make([]objapi.Tag, len(xs))
	for i, t := range xs {
		if t.Key == nil || t.Value == nil {
			return nil, malformedXML("every Tag needs a Key and a Value.")
		}
		tags[i] = objapi.Tag{Key: *t.Key, Value: *t.Value}
	}
	if err := validateTags(tags); err != nil {
		return nil, err
	}
	return tags, nil
}

// filterSizes reads ObjectSizeGreaterThan and ObjectSizeLessThan: sizes
// in bytes, the lower bound below the upper.
func filterSizes(f *objapi.LifecycleFilter, gt, lt []string) error {
	parse := func(vs []string, name string, lowest int64) (int64, error) {
		if len(vs) == 0 {
			return 0, nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(vs[0]), 10, 64)
		if err != nil {
			return 0, malformedXML(name + " is not an integer.")
		}
		if n < lowest {
			return 0, errorf("InvalidArgument", fmt.Sprintf("%s must be at least %d.", name, lowest))
		}
		return n, nil
	}
	var err error
	if f.ObjectSizeGreaterThan, err = parse(gt, "ObjectSizeGreaterThan", 0); err != nil {
		return err
	}
	if f.ObjectSizeLessThan, err = parse(lt, "ObjectSizeLessThan", 1); err != nil {
		return err
	}
	if f.ObjectSizeLessThan > 0 && f.ObjectSizeGreaterThan >= f.ObjectSizeLessThan {
		return errorf("InvalidArgument", "ObjectSizeGreaterThan must be less than ObjectSizeLessThan.")
	}
	return nil
}

// newRuleID names a rule sent without an ID, as S3 does.
func newRuleID() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// lifecycleConfiguration answers GetBucketLifecycleConfiguration.
type lifecycleConfiguration struct {
	XMLName xml.Name           `xml:"LifecycleConfiguration"`
	Xmlns   string             `xml:"xmlns,attr"`
	Rules   []lifecycleRuleOut `xml:"Rule"`
}

type lifecycleRuleOut struct {
	ID                             string
	Prefix                         *string             `xml:",omitempty"` // the legacy form
	Filter                         *lifecycleFilterOut `xml:",omitempty"`
	Status                         string
	Expiration                     *lifecycleExpirationOut  `xml:",omitempty"`
	NoncurrentVersionExpiration    *noncurrentExpirationOut `xml:",omitempty"`
	AbortIncompleteMultipartUpload *abortIncompleteOut      `xml:",omitempty"`
}

type lifecycleFilterOut struct {
	Prefix                *string          `xml:",omitempty"`
	Tag                   *resultTag       `xml:",omitempty"`
	ObjectSizeGreaterThan *int64           `xml:",omitempty"`
	ObjectSizeLessThan    *int64           `xml:",omitempty"`
	And                   *lifecycleAndOut `xml:",omitempty"`
}

type lifecycleAndOut struct {
	Prefix                string      `xml:",omitempty"`
	Tags                  []resultTag `xml:"Tag"`
	ObjectSizeGreaterThan int64       `xml:",omitempty"`
	ObjectSizeLessThan    int64       `xml:",omitempty"`
}

type lifecycleExpirationOut struct {
	Date                      string `xml:",omitempty"`
	Days                      int    `xml:",omitempty"`
	ExpiredObjectDeleteMarker bool   `xml:",omitempty"`
}

type noncurrentExpirationOut struct {
	NoncurrentDays          int
	NewerNoncurrentVersions int `xml:",omitempty"`
}

type abortIncompleteOut struct {
	DaysAfterInitiation int
}

// renderLifecycle writes rules in S3's shape: a Filter with the one
// condition there is (an empty Prefix for none), or an And of several.
func renderLifecycle(rules []objapi.LifecycleRule) *lifecycleConfiguration {
	out := &lifecycleConfiguration{Xmlns: s3NS, Rules: make([]lifecycleRuleOut, 0, len(rules))}
	for _, r := range rules {
		o := lifecycleRuleOut{ID: r.ID, Status: "Disabled"}
		if r.LegacyPrefix {
			p := r.Filter.Prefix
			o.Prefix = &p
		} else {
			f := renderFilter(r.Filter)
			o.Filter = &f
		}
		if r.Enabled {
			o.Status = "Enabled"
		}
		switch {
		case r.ExpirationDays > 0:
			o.Expiration = &lifecycleExpirationOut{Days: r.ExpirationDays}
		case !r.ExpirationDate.IsZero():
			o.Expiration = &lifecycleExpirationOut{Date: r.ExpirationDate.UTC().Format("2006-01-02T15:04:05Z")}
		case r.ExpiredObjectDeleteMarker:
			o.Expiration = &lifecycleExpirationOut{ExpiredObjectDeleteMarker: true}
		}
		if r.NoncurrentDays > 0 {
			o.NoncurrentVersionExpiration = &noncurrentExpirationOut{NoncurrentDays: r.NoncurrentDays, NewerNoncurrentVersions: r.NewerNoncurrentVersions}
		}
		if r.AbortIncompleteDays > 0 {
			o.AbortIncompleteMultipartUpload = &abortIncompleteOut{DaysAfterInitiation: r.AbortIncompleteDays}
		}
		out.Rules = append(out.Rules, o)
	}
	return out
}

func renderFilter(f objapi.LifecycleFilter) lifecycleFilterOut {
	n := len(f.Tags)
	for _, set := range []bool{f.Prefix != "", f.ObjectSizeGreaterThan > 0, f.ObjectSizeLessThan > 0} {
		n += btoi(set)
	}
	var out lifecycleFilterOut
	switch {
	case n == 0:
		out.Prefix = new(string)
	case n > 1:
		and := &lifecycleAndOut{Prefix: f.Prefix, ObjectSizeGreaterThan: f.ObjectSizeGreaterThan, ObjectSizeLessThan: f.ObjectSizeLessThan}
		for _, t := range f.Tags {
			and.Tags = append(and.Tags, resultTag(t))
		}
		out.And = and
	case f.Prefix != "":
		p := f.Prefix
		out.Prefix = &p
	case len(f.Tags) == 1:
		t := resultTag(f.Tags[0])
		out.Tag = &t
	case f.ObjectSizeGreaterThan > 0:
		n := f.ObjectSizeGreaterThan
		out.ObjectSizeGreaterThan = &n
	default:
		n := f.ObjectSizeLessThan
		out.ObjectSizeLessThan = &n
	}
	return out
}

// putBucketLifecycle replaces the bucket's lifecycle configuration
// (PutBucketLifecycleConfiguration). S3 requires the body's integrity
// (Content-MD5 or an x-amz-checksum-*). The bucket is looked up before
// the document is read, and the document is read a rule at a time.
func (s *Server) putBucketLifecycle(w http.ResponseWriter, r *http.Request, rq *request) error {
	want, err := requestDigest(r.Header, true)
	if err != nil {
		return err
	}
	if _, err := s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket); err != nil {
		return err
	}
	var doc lifecycleDoc
	empty, err := readXMLRequest(rq, want, lifecycleLimits, doc.read)
	if err != nil {
		return err
	}
	if empty {
		return errorf("MalformedXML", "")
	}
	rules, err := parseLifecycle(doc)
	if err != nil {
		return err
	}
	if err := s.layer.PutBucketLifecycle(r.Context(), rq.caller, rq.bucket, rules); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getBucketLifecycle(w http.ResponseWriter, r *http.Request, rq *request) error {
	rules, err := s.layer.GetBucketLifecycle(r.Context(), rq.caller, rq.bucket)
	if err != nil {
		return err
	}
	if len(rules) == 0 {
		return errorf("NoSuchLifecycleConfiguration", "")
	}
	return writeXML(w, http.StatusOK, renderLifecycle(rules))
}

func (s *Server) deleteBucketLifecycle(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := s.layer.DeleteBucketLifecycle(r.Context(), rq.caller, rq.bucket); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
