package objtest

import (
	"bytes"
	"fmt"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

var rangeTests = []test{
	{"Ranges", func(t *T) {
		b := t.bucket()
		body := data(10_000, 10)
		t.put(b, "k", body, objapi.PutOptions{})
		size := int64(len(body))
		for _, tc := range []struct {
			r        objapi.RangeSpec
			off, len int64
		}{
			{objapi.RangeSpec{First: 0, Last: 0}, 0, 1},
			{objapi.RangeSpec{First: 0, Last: 99}, 0, 100},
			{objapi.RangeSpec{First: 5000, Last: 5999}, 5000, 1000},
			{objapi.RangeSpec{First: 9999, Last: 9999}, 9999, 1},
			{objapi.RangeSpec{First: 9000, Last: -1}, 9000, 1000},              // bytes=9000-
			{objapi.RangeSpec{First: 9000, Last: 1 << 40}, 9000, 1000},         // past the end: to the end
			{objapi.RangeSpec{First: 0, Last: -1}, 0, size},                    // bytes=0-
			{objapi.RangeSpec{Suffix: 10}, size - 10, 10},                      // bytes=-10
			{objapi.RangeSpec{Suffix: size + 5}, 0, size},                      // more than there is: all
			{objapi.RangeSpec{Suffix: size}, 0, size},                          // exactly all
			{objapi.RangeSpec{First: size - 1, Last: size + 100}, size - 1, 1}, // the last byte
		} {
			r := tc.r
			obj, got := t.get(b, "k", objapi.GetOptions{Range: &r})
			what := fmt.Sprintf("range %+v", r)
			if obj.Offset != tc.off || obj.Length != tc.len || !obj.Partial {
				t.Errorf("%s: offset %d length %d partial %v, want %d %d true", what, obj.Offset, obj.Length, obj.Partial, tc.off, tc.len)
			}
			if !bytes.Equal(got, body[tc.off:tc.off+tc.len]) {
				t.Errorf("%s: wrong bytes", what)
			}
			if obj.Info.Size != size {
				t.Errorf("%s: Info.Size %d, want the whole object's %d", what, obj.Info.Size, size)
			}
		}
		for _, r := range []objapi.RangeSpec{{First: size, Last: size + 10}, {First: size, Last: -1}, {First: 1 << 40, Last: -1}} {
			_, err := t.l.GetObject(t.ctx, t.me, b, "k", objapi.GetOptions{Range: &r})
			t.wantKind(err, objapi.KindInvalidRange, "range %+v of %d bytes", r, size)
		}
	}},
	{"EmptyObject", func(t *T) {
		b := t.bucket()
		t.put(b, "leer", nil, objapi.PutOptions{})
		for _, r := range []objapi.RangeSpec{{First: 0, Last: 0}, {First: 0, Last: -1}, {Suffix: 1}} {
			_, err := t.l.GetObject(t.ctx, t.me, b, "leer", objapi.GetOptions{Range: &r})
			t.wantKind(err, objapi.KindInvalidRange, "range %+v of an empty object", r)
		}
	}},
	// An object not uploaded in parts has one part.
	{"PartNumberOfSimpleObject", func(t *T) {
		b := t.bucket()
		body := data(1000, 11)
		t.put(b, "k", body, objapi.PutOptions{})
		obj, got := t.get(b, "k", objapi.GetOptions{PartNumber: 1})
		if !bytes.Equal(got, body) || obj.Offset != 0 || obj.Length != 1000 || !obj.Partial || obj.Info.PartsCount != 0 {
			t.Errorf("part 1: offset %d length %d partial %v parts count %d", obj.Offset, obj.Length, obj.Partial, obj.Info.PartsCount)
		}
		_, err := t.l.GetObject(t.ctx, t.me, b, "k", objapi.GetOptions{PartNumber: 2})
		t.wantKind(err, objapi.KindInvalidRange, "part 2 of an object in one part")
	}},
}
