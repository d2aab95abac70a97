package xenstore

import (
	"bytes"
	"errors"
	"testing"
)

func TestXenstoreMessageRoundTrip(t *testing.T) {
	m := Message{Type: TypeWrite, ReqID: 7, TxID: 3, Payload: []byte("backend/vif/1/0/hotplug-status\x00connected")}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{11, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 40, 0, 0, 0}
	if !bytes.Equal(b[:HeaderSize], want) {
		t.Errorf("header = % x, want % x", b[:HeaderSize], want)
	}
	got, n, err := ParseMessage(append(b, 0xff))
	if err != nil || n != len(b) || got.Type != m.Type || got.ReqID != 7 || got.TxID != 3 || !bytes.Equal(got.Payload, m.Payload) {
		t.Errorf("ParseMessage = %+v, %d, %v; want %+v, %d", got, n, err, m, len(b))
	}
	if _, err := (Message{Payload: make([]byte, MaxPayload+1)}).Marshal(); err == nil {
		t.Error("Marshal of an oversized payload succeeded")
	}
	if _, _, err := ParseMessage(b[:HeaderSize+3]); !errors.Is(err, ErrShort) {
		t.Errorf("ParseMessage of a truncated message = %v, want ErrShort", err)
	}
}

// FuzzParseMessage checks that the reply parser never panics, never
// accepts more than MaxPayload, and that what it accepts re-encodes to the
// same bytes. Seeds: testdata/fuzz/FuzzParseMessage.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte{2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 'a', 'b', 'c'})
	f.Add([]byte{16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 'E', 'N', 'O', 'E', 'N', 'T', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := ParseMessage(b)
		if err != nil {
			return
		}
		if len(m.Payload) > MaxPayload || n != HeaderSize+len(m.Payload) || n > len(b) {
			t.Fatalf("accepted %d bytes with a payload of %d from %d", n, len(m.Payload), len(b))
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed message: %v", err)
		}
		if !bytes.Equal(out, b[:n]) {
			t.Fatalf("re-encoded % x, parsed from % x", out, b[:n])
		}
		if err := ReplyError(m); (err != nil) != (m.Type == TypeError) {
			t.Fatalf("ReplyError(%s) = %v", m.Type, err)
		}
		if _, err := ReadMessage(bytes.NewReader(b)); err != nil {
			t.Fatalf("ReadMessage disagrees with ParseMessage: %v", err)
		}
	})
}
