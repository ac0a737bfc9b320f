package bench

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// serverFrame builds an unmasked server frame.
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	n := len(payload)
	var out []byte
	switch {
	case n <= 125:
		out = []byte{b0, byte(n)}
	case n <= 0xFFFF:
		out = []byte{b0, 126, byte(n >> 8), byte(n)}
	default:
		out = []byte{b0, 127}
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	return append(out, payload...)
}

func TestAppendFrameMasksAndRoundTrips(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 125, 126, 127, 0xFFFF, 0x10000, 70000} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		key := uint32(0xA1B2C3D4)
		f := appendFrame(nil, opText, payload, key)
		if f[0] != 0x80|opText {
			t.Fatalf("n=%d: first byte %#x", n, f[0])
		}
		if f[1]&0x80 == 0 {
			t.Fatalf("n=%d: mask bit not set", n)
		}
		hdr := frameHeaderLen(n)
		if len(f) != hdr+n {
			t.Fatalf("n=%d: frame length %d, want %d", n, len(f), hdr+n)
		}
		var k [4]byte
		copy(k[:], f[hdr-4:hdr])
		if binary.BigEndian.Uint32(k[:]) != key {
			t.Fatalf("n=%d: mask key %x", n, k)
		}
		body := append([]byte(nil), f[hdr:]...)
		if n >= 4 && bytes.Equal(body, payload) {
			t.Fatalf("n=%d: payload not masked", n)
		}
		maskBytes(body, k)
		if !bytes.Equal(body, payload) {
			t.Fatalf("n=%d: unmasked payload differs", n)
		}
		// The declared length must match.
		var length uint64
		switch f[1] & 0x7F {
		case 126:
			length = uint64(binary.BigEndian.Uint16(f[2:4]))
		case 127:
			length = binary.BigEndian.Uint64(f[2:10])
		default:
			length = uint64(f[1] & 0x7F)
		}
		if length != uint64(n) {
			t.Fatalf("n=%d: declared length %d", n, length)
		}
	}
}

func TestMaskBytesMatchesBytewise(t *testing.T) {
	k := [4]byte{1, 2, 3, 250}
	for n := 0; n < 40; n++ {
		b := make([]byte, n)
		want := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
			want[i] = byte(i) ^ k[i%4]
		}
		maskBytes(b, k)
		if !bytes.Equal(b, want) {
			t.Fatalf("n=%d: %v want %v", n, b, want)
		}
	}
}

func TestParseFrameSplitAtEveryByte(t *testing.T) {
	payloads := [][]byte{[]byte("hi"), bytes.Repeat([]byte("a"), 300), bytes.Repeat([]byte("b"), 70000)}
	for _, p := range payloads {
		f := serverFrame(true, opText, p)
		for cut := 0; cut < len(f); cut++ {
			_, n, err := parseFrame(f[:cut])
			if err != nil || n != 0 {
				t.Fatalf("len %d cut %d: n=%d err=%v, want need-more", len(p), cut, n, err)
			}
		}
		got, n, err := parseFrame(f)
		if err != nil || n != len(f) || !got.fin || got.op != opText || !bytes.Equal(got.payload, p) {
			t.Fatalf("len %d: whole frame parse n=%d err=%v", len(p), n, err)
		}
	}
}

func TestParseFrameManyPerBuffer(t *testing.T) {
	var buf []byte
	var want []string
	for i := 0; i < 50; i++ {
		s := bytes.Repeat([]byte{byte('a' + i%26)}, i*5)
		buf = append(buf, serverFrame(true, opText, s)...)
		want = append(want, string(s))
	}
	buf = append(buf, serverFrame(true, opPing, []byte("p"))...)
	var got []string
	off := 0
	for {
		f, n, err := parseFrame(buf[off:])
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		off += n
		if f.op == opText {
			got = append(got, string(f.payload))
		} else if f.op != opPing || string(f.payload) != "p" {
			t.Fatalf("unexpected frame %+v", f)
		}
	}
	if off != len(buf) || len(got) != len(want) {
		t.Fatalf("consumed %d of %d, %d messages", off, len(buf), len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d differs", i)
		}
	}
}

func TestParseFrameRejects(t *testing.T) {
	cases := map[string][]byte{
		"masked":          {0x81, 0x81, 1, 2, 3, 4, 'x'},
		"reserved bits":   {0xC1, 0x00},
		"long control":    append([]byte{0x89, 126, 0, 200}, make([]byte, 200)...),
		"fragmented ping": {0x09, 0x00},
		"too big":         {0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 0},
	}
	for name, b := range cases {
		if _, _, err := parseFrame(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCloseCode(t *testing.T) {
	if c := closeCode([]byte{0x0F, 0xA8, 'x'}); c != 4008 {
		t.Fatalf("code %d", c)
	}
	if c := closeCode(nil); c != 1005 {
		t.Fatalf("empty close: %d", c)
	}
}
