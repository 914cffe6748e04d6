package objtest

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

var conditionalTests = []test{
	{"PutIfNoneMatch", func(t *T) {
		b := t.bucket()
		first := []byte("erste")
		info, err := t.l.PutObject(t.ctx, t.me, b, "k", bytes.NewReader(first), objapi.PutOptions{Size: 5, IfNoneMatch: true})
		t.must(err, "PutObject If-None-Match: * of a new key")
		if info.ETag != md5hex(first) {
			t.Errorf("ETag %s", info.ETag)
		}
		_, err = t.l.PutObject(t.ctx, t.me, b, "k", bytes.NewReader([]byte("zweite")), objapi.PutOptions{Size: 6, IfNoneMatch: true})
		t.wantKind(err, objapi.KindPrecondition, "PutObject If-None-Match: * of an existing key")
		t.wantData(b, "k", first)
	}},
	{"PutIfMatch", func(t *T) {
		b := t.bucket()
		v1 := t.put(b, "k", []byte("eins"), objapi.PutOptions{})
		_, err := t.l.PutObject(t.ctx, t.me, b, "k", bytes.NewReader([]byte("zwei")), objapi.PutOptions{Size: 4, IfMatch: md5hex([]byte("anders"))})
		t.wantKind(err, objapi.KindPrecondition, "PutObject If-Match of another ETag")
		t.wantData(b, "k", []byte("eins"))
		_, err = t.l.PutObject(t.ctx, t.me, b, "k", bytes.NewReader([]byte("zwei")), objapi.PutOptions{Size: 4, IfMatch: v1.ETag})
		t.must(err, "PutObject If-Match of the current ETag")
		t.wantData(b, "k", []byte("zwei"))
		// A list, quoted, with a weak marker S3 ignores.
		_, err = t.l.PutObject(t.ctx, t.me, b, "k", bytes.NewReader([]byte("drei")), objapi.PutOptions{Size: 4,
			IfMatch: `"` + md5hex([]byte("anders")) + `", W/"` + md5hex([]byte("zwei")) + `"`})
		t.must(err, "PutObject If-Match of a list naming the current ETag, weak")
		t.wantData(b, "k", []byte("drei"))
		_, err = t.l.PutObject(t.ctx, t.me, b, "nie-da", bytes.NewReader([]byte("x")), objapi.PutOptions{Size: 1, IfMatch: v1.ETag})
		t.wantKind(err, objapi.KindNoSuchKey, "PutObject If-Match of a missing key")
		t.wantNoObject(b, "nie-da")
	}},
	{"DeleteIfMatch", func(t *T) {
		b := t.bucket()
		v := t.put(b, "k", []byte("eins"), objapi.PutOptions{})
		t.wantKind(t.l.DeleteObject(t.ctx, t.me, b, "k", objapi.DeleteOptions{IfMatch: md5hex([]byte("anders"))}), objapi.KindPrecondition,
			"DeleteObject If-Match of another ETag")
		t.wantData(b, "k", []byte("eins"))
		t.must(t.l.DeleteObject(t.ctx, t.me, b, "k", objapi.DeleteOptions{IfMatch: v.ETag}), "DeleteObject If-Match of the current ETag")
		t.wantNoObject(b, "k")
		t.wantKind(t.l.DeleteObject(t.ctx, t.me, b, "k", objapi.DeleteOptions{IfMatch: v.ETag}), objapi.KindNoSuchKey,
			"DeleteObject If-Match of a missing key")
	}},
	// Of writers racing with If-None-Match: *, exactly one wins; the
	// object is the winner's.
	{"RaceIfNoneMatch", func(t *T) {
		b := t.bucket()
		const writers = 8
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Go(func() {
				body := []byte(fmt.Sprintf("writer %d", i))
				_, errs[i] = t.l.PutObject(t.ctx, t.me, b, "k", bytes.NewReader(body), objapi.PutOptions{Size: int64(len(body)), IfNoneMatch: true})
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("writers %d and %d both won", winner, i)
			case err == nil:
				winner = i
			default:
				t.wantKind(err, objapi.KindPrecondition, "writer %d", i)
			}
		}
		if winner < 0 {
			t.Fatal("no writer won")
		}
		t.wantData(b, "k", []byte(fmt.Sprintf("writer %d", winner)))
	}},
	// Of writers racing with If-Match of the same ETag, exactly one wins.
	{"RaceIfMatch", func(t *T) {
		b := t.bucket()
		v := t.put(b, "k", []byte("start"), objapi.PutOptions{})
		const writers = 8
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Go(func() {
				body := []byte(fmt.Sprintf("writer %d", i))
				_, errs[i] = t.l.PutObject(t.ctx, t.me, b, "k", bytes.NewReader(body), objapi.PutOptions{Size: int64(len(body)), IfMatch: v.ETag})
			})
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			if err == nil {
				won++
			} else {
				t.wantKind(err, objapi.KindPrecondition, "writer %d", i)
			}
		}
		if won != 1 {
			t.Errorf("%d writers won, want 1", won)
		}
	}},
}
