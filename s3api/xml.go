package s3api

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// This file holds how s3api reads and writes XML documents, and the
// documents several operations share; a document of one operation (CORS,
// tagging, copies, DeleteObjects, upload listings) lives with it. Element
// names follow the S3 API reference.

// s3NS is the namespace of every S3 document s3api writes.
const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// writeXML answers with status and the document v. The document is
// encoded into memory first (S3 documents are small: a listing page is at
// most 1000 entries) so that Content-Length is exact and an encoding
// failure can still be answered as an error.
func writeXML(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// Request documents are read as a stream, under limits (xmlLimits): the
// body's length, how deep elements nest, how long one element's text and
// one tag may be, and how many elements the document holds. An xmlGuard
// between the body and encoding/xml's decoder enforces them byte by byte,
// before the decoder builds a token, so no token outgrows them; documents
// that carry lists (DeleteObjects' keys, CompleteMultipartUpload's parts,
// CORS rules, tags) are decoded one list item at a time (eachChild) and
// refused at the first item beyond S3's limit. What a document costs in
// memory and CPU thus grows with what is accepted, not with what is sent:
// a refused body is not read any further.

const (
	// maxXMLDepth bounds how deep elements nest. S3's deepest request
	// document, an ACL's AccessControlPolicy > AccessControlList > Grant >
	// Grantee > ID, is five deep.
	maxXMLDepth = 16
	// maxXMLText bounds the text of one element (its character data and
	// CDATA sections, as sent) in the documents read item by item: an
	// object key of 1024 bytes written as character references is at most
	// 6 KiB (&#x41; for a byte, &#x10FFFF; for four).
	maxXMLText = 16 << 10
	// maxXMLMarkup bounds one tag with its attributes (namespace
	// declarations among them), one comment and one processing
	// instruction in those documents.
	maxXMLMarkup = 4 << 10
	// maxXMLLong bounds text and markup in the documents read whole: as
	// long as their body allows, up to 64 KiB.
	maxXMLLong = 64 << 10
	// maxXMLElements bounds the elements of a document read whole: more
	// than a 64 KiB body of them can hold.
	maxXMLElements = 16 << 10
)

// xmlLimits bound one request document while it is read.
type xmlLimits struct {
	bytes    int64 // the whole body: MaxMessageLengthExceeded beyond it
	depth    int   // elements nested in one another
	text     int   // bytes of text and CDATA of one element, between two of its tags
	markup   int   // bytes of one tag, comment or processing instruction
	elements int   // elements in the whole document
}

// wholeDocLimits are the limits of a document of at most maxBytes bytes
// that is decoded whole (decodeXMLBody): text and tags as long as the body
// allows, up to maxXMLLong.
func wholeDocLimits(maxBytes int64) xmlLimits {
	long := int(min(maxBytes, maxXMLLong))
	return xmlLimits{bytes: maxBytes, depth: maxXMLDepth, text: long, markup: long, elements: maxXMLElements}
}

// listDocLimits are the limits of a document of at most maxBytes bytes
// that is read item by item and holds at most elements elements.
func listDocLimits(maxBytes int64, elements int) xmlLimits {
	return xmlLimits{bytes: maxBytes, depth: maxXMLDepth, text: maxXMLText, markup: maxXMLMarkup, elements: elements}
}

// decodeXMLBody decodes the request document from body into v under the
// limits of a document of at most limit bytes (wholeDocLimits); see
// readXML.
func decodeXMLBody(body io.Reader, limit int64, v any) (empty bool, err error) {
	return readXML(body, wholeDocLimits(limit), decodeRoot(v))
}

// decodeRoot decodes the root element into v.
func decodeRoot(v any) func(d *xml.Decoder, root xml.StartElement) error {
	return func(d *xml.Decoder, root xml.StartElement) error { return d.DecodeElement(v, &root) }
}

// readXML reads the request document in body under lim. root is handed
// the document's root element and must consume it: with d.DecodeElement,
// or child by child with eachChild. Once the document was read, so is the
// rest of the body, to its end: the end is where sigv4 checks the
// payload's signature, and nothing may be acted on before that. A
// document that breaks a limit or does not parse is refused at once,
// without reading further: MaxMessageLengthExceeded for a longer body,
// MalformedXML for the rest, or the error root returns (an *s3Error with
// S3's code for a list that is too long). empty reports a body without
// any element (callers decide whether that is allowed). Errors of the
// body itself (signature, length) come back unchanged for errors.go to
// map.
func readXML(body io.Reader, lim xmlLimits, root func(d *xml.Decoder, root xml.StartElement) error) (empty bool, err error) {
	rec := &errRecorder{r: body}
	g := &xmlGuard{r: rec, lim: lim}
	d := xml.NewDecoder(g)
	err = func() error {
		for {
			tok, err := d.Token()
			if err != nil {
				return err
			}
			if start, ok := tok.(xml.StartElement); ok {
				return root(d, start)
			}
		}
	}()
	var se *s3Error
	switch {
	case rec.err != nil:
		return false, rec.err
	case err == io.EOF && !rec.text:
		return true, nil
	case err == io.EOF:
		// Text but no element: not an XML document.
		return false, errorf("MalformedXML", "")
	case errors.As(err, &se):
		return false, err
	case err != nil:
		return false, &s3Error{Code: "MalformedXML", Err: err}
	}
	if err := g.rest(); err != nil {
		return false, cmp.Or(rec.err, err)
	}
	return false, nil
}

// eachChild calls fn for every child element of the element whose start
// d returned last, up to that element's end. fn must consume the child
// whole: d.DecodeElement, d.Skip, or eachChild again. Text between the
// children is ignored, as decoding into a struct ignores it.
func eachChild(d *xml.Decoder, fn func(child xml.StartElement) error) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := fn(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// malformedXML is MalformedXML with S3's message and why.
func malformedXML(why string) *s3Error {
	return errorf("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema: "+why)
}

// requestDigest reads the Content-MD5 a request document must match, if
// the client sent one (sigv4 checks the x-amz-checksum-* values).
// requireDigest refuses a request that has neither, as S3 does for
// operations whose body must be protected (DeleteObjects).
func requestDigest(h http.Header, requireDigest bool) ([]byte, error) {
	want, err := contentMD5(h)
	if err != nil {
		return nil, err
	}
	if requireDigest && want == nil && !hasChecksum(h) {
		return nil, errorf("InvalidRequest", "Missing required header for this request: Content-MD5 OR x-amz-checksum-*")
	}
	return want, nil
}

// readXMLRequest reads rq's document like readXML and checks that its MD5
// is want, if want is set (requestDigest).
func readXMLRequest(rq *request, want []byte, lim xmlLimits, root func(d *xml.Decoder, root xml.StartElement) error) (empty bool, err error) {
	body := rq.auth.Body
	h := md5.New()
	if want != nil {
		body = io.TeeReader(body, h)
	}
	if empty, err = readXML(body, lim, root); err != nil {
		return false, err
	}
	if want != nil && !bytes.Equal(h.Sum(nil), want) {
		return false, errorf("BadDigest", "")
	}
	return empty, nil
}

// decodeXMLRequest decodes rq's document whole into v, under the limits
// of a document of at most limit bytes, and checks its digest
// (requestDigest, readXMLRequest).
func decodeXMLRequest(r *http.Request, rq *request, limit int64, v any, requireDigest bool) (empty bool, err error) {
	want, err := requestDigest(r.Header, requireDigest)
	if err != nil {
		return false, err
	}
	return readXMLRequest(rq, want, wholeDocLimits(limit), decodeRoot(v))
}

// hasChecksum reports whether a request carries an x-amz-checksum-*
// value, as a header or announced as a trailer; sigv4 verifies it.
func hasChecksum(h http.Header) bool {
	if h.Get("X-Amz-Trailer") != "" {
		return true
	}
	for name := range h {
		if isChecksumValueHeader(name) {
			return true
		}
	}
	return false
}

// errRecorder keeps the first read error that is not io.EOF, so that a
// failing body is told apart from a malformed document, and notes whether
// the body held anything but whitespace, so that an empty body is told
// apart from text without an element.
type errRecorder struct {
	r    io.Reader
	err  error
	text bool
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if !e.text && len(bytes.TrimSpace(p[:n])) > 0 {
		e.text = true
	}
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
}

// xmlGuard passes a request document to encoding/xml's decoder while
// following its lexical structure, as the decoder does, far enough to
// enforce xmlLimits before the decoder builds a token: it knows text,
// CDATA sections, tags (with quoted attribute values, which may hold '>'),
// comments and processing instructions, and so every token's length,
// each element's depth and the number of elements. Document type
// declarations (<!DOCTYPE …>) are refused: no S3 document has one, and
// they are where entity tricks live. A violation is returned in place of
// the byte that commits it, so the decoder never sees a token beyond a
// limit; the error is kept and returned by every later Read.
type xmlGuard struct {
	r     io.Reader
	lim   xmlLimits
	n     int64 // bytes read from r
	err   error // the violation or length error every later Read returns
	shape bool  // err is a violation of the document's shape (not of its length)
	drain bool  // past the document: only the length counts (rest)

	state  guardState
	run    int  // bytes of the current tag, comment or processing instruction
	text   int  // bytes of text and CDATA since the last tag
	depth  int  // elements open
	elems  int  // elements begun
	quote  byte // the quote an attribute value in the current tag is open with
	endTag bool // the current tag is an end tag
	slash  bool // the current tag's last byte outside quotes so far is '/'
	p1, p2 byte // the last two bytes of the current construct, for its terminator
	cdata  int  // bytes of "CDATA[" still to come
}

type guardState uint8

const (
	gText      guardState = iota // character data
	gOpen                        // after '<'
	gTag                         // in a start or end tag
	gBang                        // after "<!"
	gBangDash                    // after "<!-"
	gComment                     // in a comment, after "<!--"
	gCDATAOpen                   // in "<![CDATA["
	gCDATA                       // in a CDATA section
	gPI                          // in a processing instruction, after "<?"
)

func (g *xmlGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	// Read at most one byte past the limit: enough to notice a body that
	// is too long without taking in any more of it.
	if room := g.lim.bytes - g.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	over := g.n > g.lim.bytes
	if over {
		n -= int(g.n - g.lim.bytes)
	}
	if !g.drain {
		if i, verr := g.scan(p[:n]); verr != nil {
			g.err, g.shape = verr, true
			return i, verr
		}
	}
	if over {
		g.err = errorf("MaxMessageLengthExceeded", fmt.Sprintf("The request document exceeds %d bytes.", g.lim.bytes))
		return n, g.err
	}
	return n, err
}

// rest reads the body after the document to its end, counting only its
// length: what the decoder did not need may be anything. A violation of
// the document's shape found in bytes the decoder read ahead but never
// took is forgotten: it is not part of the document.
func (g *xmlGuard) rest() error {
	g.drain = true
	if g.shape {
		g.err, g.shape = nil, false
	}
	_, err := io.Copy(io.Discard, g)
	return err
}

// scan follows p through the document's structure. At a violation it
// returns the number of bytes before the byte that commits it, and why.
func (g *xmlGuard) scan(p []byte) (int, error) {
	lim := &g.lim
	for i, b := range p {
		switch g.state {
		case gText:
			if b == '<' {
				g.state, g.run = gOpen, 1
				continue
			}
			if g.text++; g.text > lim.text {
				return i, malformedXML(fmt.Sprintf("the text of an element exceeds %d bytes.", lim.text))
			}
		case gOpen:
			g.run++
			switch b {
			case '?':
				g.state, g.p1 = gPI, 0
			case '!':
				g.state = gBang
			default:
				g.state, g.endTag, g.slash, g.quote = gTag, b == '/', false, 0
			}
		case gTag:
			if g.run++; g.run > lim.markup {
				return i, malformedXML(fmt.Sprintf("a tag exceeds %d bytes.", lim.markup))
			}
			switch {
			case g.quote != 0:
				if b == g.quote {
					g.quote = 0
				}
			case b == '"' || b == '\'':
				g.quote, g.slash = b, false
			case b == '>':
				g.state, g.text = gText, 0
				if g.endTag {
					g.depth--
					continue
				}
				if g.elems++; g.elems > lim.elements {
					return i, malformedXML(fmt.Sprintf("the document has more than %d elements.", lim.elements))
				}
				if !g.slash {
					if g.depth++; g.depth > lim.depth {
						return i, malformedXML(fmt.Sprintf("elements are nested more than %d deep.", lim.depth))
					}
				}
			case b == ' ' || b == '\t' || b == '\r' || b == '\n':
			default:
				g.slash = b == '/'
			}
		case gBang:
			g.run++
			switch b {
			case '-':
				g.state = gBangDash
			case '[':
				g.state, g.cdata = gCDATAOpen, len("CDATA[")
			default:
				return i, malformedXML("document type declarations are not accepted.")
			}
		case gBangDash:
			g.run++
			if b != '-' {
				return i, malformedXML("<!- does not begin a comment.")
			}
			g.state, g.p1, g.p2 = gComment, 0, 0
		case gComment:
			if g.run++; g.run > lim.markup {
				return i, malformedXML(fmt.Sprintf("a comment exceeds %d bytes.", lim.markup))
			}
			// Like the decoder: the first "--" must end the comment.
			if g.p2 == '-' && g.p1 == '-' {
				if b != '>' {
					return i, malformedXML(`"--" is not allowed in comments.`)
				}
				g.state = gText
				continue
			}
			g.p2, g.p1 = g.p1, b
		case gCDATAOpen:
			g.run++
			if g.cdata--; g.cdata == 0 {
				g.state, g.p1, g.p2 = gCDATA, 0, 0
			}
		case gCDATA:
			// CDATA is text of the element it is in.
			if g.text++; g.text > lim.text {
				return i, malformedXML(fmt.Sprintf("the text of an element exceeds %d bytes.", lim.text))
			}
			if g.p2 == ']' && g.p1 == ']' && b == '>' {
				g.state = gText
				continue
			}
			g.p2, g.p1 = g.p1, b
		case gPI:
			if g.run++; g.run > lim.markup {
				return i, malformedXML(fmt.Sprintf("a processing instruction exceeds %d bytes.", lim.markup))
			}
			if g.p1 == '?' && b == '>' {
				g.state = gText
				continue
			}
			g.p1 = b
		}
	}
	return len(p), nil
}

// owner is a bucket's or object's owner: kcs names the tenant.
type owner struct {
	ID          string
	DisplayName string
}

// listAllMyBucketsResult answers ListBuckets.
type listAllMyBucketsResult struct {
	XMLName           xml.Name     `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Owner             owner        `xml:"Owner"`
	Buckets           []bucketItem `xml:"Buckets>Bucket"`
	ContinuationToken string       `xml:",omitempty"`
	Prefix            string       `xml:",omitempty"`
}

type bucketItem struct {
	Name         string
	CreationDate string
	BucketRegion string
}

// createBucketConfiguration is CreateBucket's optional request body.
type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

// locationConstraint answers GetBucketLocation.
type locationConstraint struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Region  string   `xml:",chardata"`
}

// listBucketResult answers ListObjects (v1) and ListObjectsV2; the fields
// of the other version stay empty and are omitted.
type listBucketResult struct {
	XMLName               xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Marker                *string        `xml:"Marker"`     // v1
	NextMarker            string         `xml:",omitempty"` // v1
	ContinuationToken     string         `xml:",omitempty"` // v2
	NextContinuationToken string         `xml:",omitempty"` // v2
	StartAfter            string         `xml:",omitempty"` // v2
	KeyCount              *int           `xml:"KeyCount"`   // v2
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:",omitempty"`
	EncodingType          string         `xml:",omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []objectItem   `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

type objectItem struct {
	Key               string
	LastModified      string
	ETag              string
	ChecksumAlgorithm []string `xml:",omitempty"`
	ChecksumType      string   `xml:",omitempty"`
	Size              int64
	Owner             *owner `xml:",omitempty"`
	StorageClass      string
}

type commonPrefix struct {
	Prefix string
}

// initiateMultipartUploadResult answers CreateMultipartUpload.
type initiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string
	Key      string
	UploadID string `xml:"UploadId"`
}

// completeMultipartUpload is CompleteMultipartUpload's request body,
// read part by part (its read method). The parts' checksum elements
// (ChecksumCRC32, …) land in Other; the object layer compares them with
// what each part was uploaded with.
type completeMultipartUpload struct {
	Parts []completePart
}

type completePart struct {
	PartNumber string // a string, so that a non-number is InvalidArgument, not MalformedXML
	ETag       string
	Other      []xmlChecksum `xml:",any"`
}

// completeMultipartUploadResult answers CompleteMultipartUpload.
type completeMultipartUploadResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location     string
	Bucket       string
	Key          string
	ETag         string
	Checksums    []xmlChecksum `xml:",any"`
	ChecksumType string        `xml:",omitempty"`
}
