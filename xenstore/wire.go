package xenstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Type is a xenstore message type (enum xsd_sockmsg_type in Xen's
// xs_wire.h).
type Type uint32

// Message types. Only a few are used by this package; the others are
// listed so that messages can be named in errors and in the fake server.
const (
	TypeControl          Type = 0
	TypeDirectory        Type = 1
	TypeRead             Type = 2
	TypeGetPerms         Type = 3
	TypeWatch            Type = 4
	TypeUnwatch          Type = 5
	TypeTransactionStart Type = 6
	TypeTransactionEnd   Type = 7
	TypeIntroduce        Type = 8
	TypeRelease          Type = 9
	TypeGetDomainPath    Type = 10
	TypeWrite            Type = 11
	TypeMkdir            Type = 12
	TypeRm               Type = 13
	TypeSetPerms         Type = 14
	TypeWatchEvent       Type = 15
	TypeError            Type = 16
)

// typeNames is indexed by Type: an array, not a map, so that it costs
// nothing at start-up (the hotplug binary starts once per vif).
var typeNames = [...]string{
	TypeControl: "XS_CONTROL", TypeDirectory: "XS_DIRECTORY", TypeRead: "XS_READ",
	TypeGetPerms: "XS_GET_PERMS", TypeWatch: "XS_WATCH", TypeUnwatch: "XS_UNWATCH",
	TypeTransactionStart: "XS_TRANSACTION_START", TypeTransactionEnd: "XS_TRANSACTION_END",
	TypeIntroduce: "XS_INTRODUCE", TypeRelease: "XS_RELEASE", TypeGetDomainPath: "XS_GET_DOMAIN_PATH",
	TypeWrite: "XS_WRITE", TypeMkdir: "XS_MKDIR", TypeRm: "XS_RM", TypeSetPerms: "XS_SET_PERMS",
	TypeWatchEvent: "XS_WATCH_EVENT", TypeError: "XS_ERROR",
}

// String returns the xs_wire.h name, e.g. "XS_READ".
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("XS_TYPE(%d)", uint32(t))
}

// HeaderSize is the size of the message header: type, req_id, tx_id and
// len, each a little-endian uint32.
const HeaderSize = 16

// MaxPayload is XENSTORE_PAYLOAD_MAX: the largest payload xenstored
// accepts or sends.
const MaxPayload = 4096

// Message is one xenstore message, request or reply.
type Message struct {
	Type Type
	// ReqID is chosen by the client and echoed in the reply.
	ReqID uint32
	// TxID is the transaction, 0 for none.
	TxID    uint32
	Payload []byte
}

// ErrShort is returned (wrapped) by ParseMessage when b holds less than
// one whole message.
var ErrShort = errors.New("xenstore: short message")

// Marshal encodes m for the wire. It fails when the payload is larger
// than MaxPayload.
func (m Message) Marshal() ([]byte, error) {
	if len(m.Payload) > MaxPayload {
		return nil, fmt.Errorf("xenstore: %s payload of %d bytes exceeds %d", m.Type, len(m.Payload), MaxPayload)
	}
	b := make([]byte, HeaderSize, HeaderSize+len(m.Payload))
	binary.LittleEndian.PutUint32(b[0:], uint32(m.Type))
	binary.LittleEndian.PutUint32(b[4:], m.ReqID)
	binary.LittleEndian.PutUint32(b[8:], m.TxID)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(m.Payload)))
	return append(b, m.Payload...), nil
}

// parseHeader decodes a header and returns the payload length it
// announces. It rejects lengths above MaxPayload.
func parseHeader(h []byte) (Message, int, error) {
	m := Message{
		Type:  Type(binary.LittleEndian.Uint32(h[0:])),
		ReqID: binary.LittleEndian.Uint32(h[4:]),
		TxID:  binary.LittleEndian.Uint32(h[8:]),
	}
	n := binary.LittleEndian.Uint32(h[12:])
	if n > MaxPayload {
		return Message{}, 0, fmt.Errorf("xenstore: %s message announces a payload of %d bytes (max %d)", m.Type, n, MaxPayload)
	}
	return m, int(n), nil
}

// ParseMessage decodes the message at the start of b and returns it with
// the number of bytes it used. It fails with ErrShort when b ends before
// the message does, and when the announced payload exceeds MaxPayload.
// The payload aliases b.
func ParseMessage(b []byte) (Message, int, error) {
	if len(b) < HeaderSize {
		return Message{}, 0, fmt.Errorf("%w: %d bytes, header needs %d", ErrShort, len(b), HeaderSize)
	}
	m, n, err := parseHeader(b[:HeaderSize])
	if err != nil {
		return Message{}, 0, err
	}
	if len(b)-HeaderSize < n {
		return Message{}, 0, fmt.Errorf("%w: payload of %d bytes announced, %d present", ErrShort, n, len(b)-HeaderSize)
	}
	m.Payload = b[HeaderSize : HeaderSize+n]
	return m, HeaderSize + n, nil
}

// ReadMessage reads one message from r.
func ReadMessage(r io.Reader) (Message, error) {
	var h [HeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Message{}, fmt.Errorf("xenstore: read header: %w", err)
	}
	m, n, err := parseHeader(h[:])
	if err != nil {
		return Message{}, err
	}
	m.Payload = make([]byte, n)
	if _, err := io.ReadFull(r, m.Payload); err != nil {
		return Message{}, fmt.Errorf("xenstore: read %s payload: %w", m.Type, err)
	}
	return m, nil
}

// ReplyError returns the error a reply carries: nil unless it is an
// XS_ERROR, whose payload is an errno name such as "ENOENT" followed by a
// NUL. An XS_ERROR without its NUL is malformed; its name is kept anyway.
func ReplyError(m Message) error {
	if m.Type != TypeError {
		return nil
	}
	name, _, _ := bytes.Cut(m.Payload, []byte{0})
	if len(name) == 0 {
		return &Error{Errno: "EINVAL", Malformed: true}
	}
	e := &Error{Errno: string(name)}
	if len(m.Payload) == 0 || m.Payload[len(m.Payload)-1] != 0 {
		e.Malformed = true
	}
	return e
}

// ErrNotFound matches (errors.Is) a read of a path that does not exist:
// xenstored's ENOENT, or a failing xenstore-read command.
var ErrNotFound = errors.New("xenstore: no such path")

// Error is an error reply of xenstored.
type Error struct {
	// Errno is the name xenstored sent, e.g. "ENOENT", "EACCES".
	Errno string
	// Malformed is set when the reply was not a NUL-terminated name.
	Malformed bool
}

func (e *Error) Error() string {
	if e.Malformed {
		return "xenstored error " + e.Errno + " (malformed reply)"
	}
	return "xenstored error " + e.Errno
}

// Is makes an ENOENT Error match ErrNotFound.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.Errno == "ENOENT"
}
