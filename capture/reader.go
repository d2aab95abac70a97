package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/proxyarp/proxyarp/responder"
)

// Frame is one packet read from a capture.
type Frame struct {
	// Number counts packets from 1, as tcpdump and Wireshark do.
	Number int
	// Time is the capture timestamp.
	Time time.Time
	// Data is the captured bytes, starting at the Ethernet header; it may
	// be shorter than Length when the capture truncated the frame.
	Data []byte
	// Length is the frame's length on the wire.
	Length int
	// Iface is the interface name the capture records, or "".
	Iface string
	// Type is the kernel's packet type as recorded in pcapng epb_flags:
	// PacketOutgoing for outbound frames, PacketUnknown when not recorded
	// (always, in classic pcap).
	Type responder.PacketType
	// Comments are the frame's pcapng comments.
	Comments []string
}

// ErrLinkType is returned (wrapped) by NewReader for a capture whose link
// type is not Ethernet.
var ErrLinkType = errors.New("link type is not Ethernet")

// RecordError is returned by Reader.Next for a corrupt record it skipped:
// its length could be trusted, so the next call reads the record after it.
type RecordError struct {
	// Record is the packet number the record had (it counts, so that the
	// packets after it keep their numbers), or 0 for a pcapng block that
	// is not a packet.
	Record int
	// Next is the number of the packet after it.
	Next int
	// Offset is the record's byte offset in the file.
	Offset int64
	// Err says what is wrong with it.
	Err error
}

func (e *RecordError) Error() string {
	if e.Record > 0 {
		return fmt.Sprintf("record %d (byte %d): %v", e.Record, e.Offset, e.Err)
	}
	return fmt.Sprintf("block at byte %d, before record %d: %v", e.Offset, e.Next, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// Reader reads frames from a classic pcap or a pcapng capture, Ethernet
// only.
//
// It finds the records itself (the record headers of classic pcap, the
// blocks of pcapng) and leaves their contents to gopacket's pcapgo, one
// record at a time, so that a corrupt record whose length can be trusted
// is skipped (Next returns a *RecordError) and reading goes on with the
// next one.
type Reader struct {
	src *bufio.Reader // the file
	off int64         // bytes of src consumed
	n   int           // packets read or skipped
	err error         // the error that stopped reading, or io.EOF

	// Classic pcap, uncompressed.
	classic   bool
	order     binary.ByteOrder
	nanos     bool
	snaplen   uint32
	maxCapLen uint32
	// Classic pcap, gzip-compressed: pcapgo reads it all, without resync.
	pcap *pcapgo.Reader

	// pcapng: each block framed here is handed to ng alone, through feed
	// and fb (which ng uses as its own buffer).
	ng    *pcapgo.NgReader
	feed  *blockFeed
	fb    *bufio.Reader
	block bytes.Buffer
}

// pcapng files start with a section header block.
const ngMagic = 0x0A0D0D0A

// pcapng block types the reader looks at.
const (
	ngBlockPacket     = 2 // obsolete Packet Block
	ngBlockIDB        = 1
	ngBlockSimple     = 3
	ngBlockEnhanced   = 6
	ngMaxBlockLen     = 16 << 20 // Wireshark's limit too
	classicHeaderLen  = 24
	classicRecHdrLen  = 16
	pcapgoMaxCapLen   = 262144 // pcapgo's eagerReadMax: what it reads beyond the snap length
	gzipMagic0        = 0x1f
	gzipMagic1        = 0x8b
	classicMagicMicro = 0xa1b2c3d4
	classicMagicNano  = 0xa1b23c4d
)

// ngByteOrderMagic is the byte-order magic of a section header block.
const ngByteOrderMagic uint32 = 0x1A2B3C4D

// blockFeed serves the bytes of one pcapng block (or a section header and
// the blocks up to its first interface) and then io.EOF, so that pcapgo
// never reads beyond the record it is given.
type blockFeed struct{ bytes.Reader }

// NewReader detects the format of r (classic pcap in any byte order and
// timestamp precision, or pcapng) and reads its header. It fails for
// anything else, and with ErrLinkType for a link type other than Ethernet.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			if len(head) == 0 {
				return nil, errors.New("empty file, not a capture")
			}
			return nil, fmt.Errorf("file header: %w", io.ErrUnexpectedEOF)
		}
		return nil, fmt.Errorf("file header: %w", err)
	}
	var lt layers.LinkType
	rd := &Reader{src: br}
	if binary.LittleEndian.Uint32(head) == ngMagic {
		rd.feed = &blockFeed{}
		rd.fb = bufio.NewReaderSize(rd.feed, 4096)
		if err := rd.frameSection(); err != nil {
			return nil, fmt.Errorf("pcapng header: %w", err)
		}
		ng, err := pcapgo.NewNgReader(rd.fb, pcapgo.NgReaderOptions{})
		if err != nil {
			return nil, fmt.Errorf("pcapng header: %w", err)
		}
		rd.ng, lt = ng, ng.LinkType()
	} else {
		if head[0] != gzipMagic0 || head[1] != gzipMagic1 {
			rd.classic = true
			switch {
			case binary.LittleEndian.Uint32(head) == classicMagicMicro:
				rd.order = binary.LittleEndian
			case binary.LittleEndian.Uint32(head) == classicMagicNano:
				rd.order, rd.nanos = binary.LittleEndian, true
			case binary.BigEndian.Uint32(head) == classicMagicMicro:
				rd.order = binary.BigEndian
			case binary.BigEndian.Uint32(head) == classicMagicNano:
				rd.order, rd.nanos = binary.BigEndian, true
			}
		}
		// pcapgo checks the header and reads it from br (it reuses a
		// bufio.Reader it is given); it reads a gzip-compressed capture
		// all by itself.
		p, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("not a pcap or pcapng capture: %w", err)
		}
		lt = p.LinkType()
		rd.off = classicHeaderLen
		rd.snaplen = p.Snaplen()
		rd.maxCapLen = max(rd.snaplen, pcapgoMaxCapLen)
		if !rd.classic {
			rd.pcap = p
		}
	}
	if lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("%w: %s (%d)", ErrLinkType, lt, uint16(lt))
	}
	return rd, nil
}

// Next returns the next frame; io.EOF after the last. A *RecordError means
// a corrupt record was skipped: call Next again for the one after it. Any
// other error means record Number (the one that would have been next) is
// corrupt or truncated in a way that hides where the record after it
// starts, so Next keeps returning that error.
func (r *Reader) Next() (Frame, error) {
	if r.err != nil {
		return Frame{}, r.err
	}
	var (
		f   Frame
		err error
	)
	switch {
	case r.ng != nil:
		f, err = r.nextNg()
	case r.classic:
		f, err = r.nextClassic()
	default:
		var ci gopacket.CaptureInfo
		f.Data, ci, err = r.pcap.ReadPacketData()
		if err == nil {
			r.n++
			f.Number, f.Time, f.Length = r.n, ci.Timestamp, ci.Length
		}
	}
	if err == nil {
		return f, nil
	}
	var re *RecordError
	if errors.As(err, &re) {
		return Frame{}, err
	}
	if errors.Is(err, io.EOF) {
		r.err = io.EOF
		return Frame{}, io.EOF
	}
	r.err = fmt.Errorf("record %d: %w", r.n+1, err)
	return Frame{}, r.err
}

// nextClassic reads a classic pcap record. Its header gives its length: a
// capture length beyond what any reader accepts means the header itself is
// corrupt, and stops the reading.
func (r *Reader) nextClassic() (Frame, error) {
	var hdr [classicRecHdrLen]byte
	n, err := io.ReadFull(r.src, hdr[:])
	if err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return Frame{}, io.EOF
		}
		return Frame{}, io.ErrUnexpectedEOF
	}
	off := r.off
	r.off += classicRecHdrLen
	sec, frac := r.order.Uint32(hdr[0:4]), r.order.Uint32(hdr[4:8])
	caplen, length := r.order.Uint32(hdr[8:12]), r.order.Uint32(hdr[12:16])
	if caplen > r.maxCapLen {
		return Frame{}, fmt.Errorf("capture length exceeds snap length: %d > %d", caplen, r.snaplen)
	}
	// The snap length in the file header may be anything: a record
	// longer than a frame grows as its bytes arrive, so that a corrupt
	// length costs no more memory than the file has.
	var data []byte
	if caplen <= 64<<10 {
		data = make([]byte, caplen)
		if _, err := io.ReadFull(r.src, data); err != nil {
			return Frame{}, io.ErrUnexpectedEOF
		}
	} else {
		var b bytes.Buffer
		if _, err := io.CopyN(&b, r.src, int64(caplen)); err != nil {
			return Frame{}, io.ErrUnexpectedEOF
		}
		data = b.Bytes()
	}
	r.off += int64(caplen)
	r.n++
	if caplen > length {
		return Frame{}, &RecordError{Record: r.n, Next: r.n + 1, Offset: off,
			Err: fmt.Errorf("capture length exceeds original packet length: %d > %d", caplen, length)}
	}
	nsec := int64(frac)
	if !r.nanos {
		nsec *= 1000
	}
	return Frame{
		Number: r.n,
		Time:   time.Unix(int64(sec), nsec).UTC(),
		Data:   data,
		Length: int(length),
		Type:   responder.PacketUnknown,
	}, nil
}

// ngOrder is the byte order of the current pcapng section.
func (r *Reader) ngOrder() binary.ByteOrder {
	if r.order == nil {
		return binary.LittleEndian
	}
	return r.order
}

// frameBlock appends the next pcapng block of the file to r.block and
// returns its type, length and offset. It fails (io.EOF at a clean end)
// when the block cannot be framed: a length too short or too long, a
// truncated block, or a trailing length that differs from the leading one.
func (r *Reader) frameBlock() (typ, length uint32, off int64, err error) {
	head, err := r.src.Peek(12)
	if len(head) == 0 && errors.Is(err, io.EOF) {
		return 0, 0, 0, io.EOF
	}
	if len(head) < 8 {
		return 0, 0, 0, io.ErrUnexpectedEOF
	}
	off = r.off
	typ = r.ngOrder().Uint32(head[0:4])
	if typ == ngMagic {
		if len(head) < 12 {
			return 0, 0, 0, io.ErrUnexpectedEOF
		}
		switch ngByteOrderMagic {
		case binary.LittleEndian.Uint32(head[8:12]):
			r.order = binary.LittleEndian
		case binary.BigEndian.Uint32(head[8:12]):
			r.order = binary.BigEndian
		default:
			return 0, 0, 0, errors.New("section header with a wrong byte-order magic")
		}
	}
	length = r.ngOrder().Uint32(head[4:8])
	if length < 12 || length > ngMaxBlockLen {
		return 0, 0, 0, fmt.Errorf("block of type %#x at byte %d claims %d bytes", typ, off, length)
	}
	start := r.block.Len()
	if n, err := io.CopyN(&r.block, r.src, int64(length)); err != nil {
		r.off += n
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, 0, err
	}
	r.off += int64(length)
	b := r.block.Bytes()[start:]
	if trail := r.ngOrder().Uint32(b[length-4:]); trail != length {
		return 0, 0, 0, fmt.Errorf("block of type %#x at byte %d: trailing length %d differs from its length %d", typ, off, trail, length)
	}
	return typ, length, off, nil
}

// frameSection frames the first block of the file and, when it is a section
// header, the blocks after it up to its first interface description, which
// pcapgo reads as one.
func (r *Reader) frameSection() error {
	r.block.Reset()
	typ, _, _, err := r.frameBlock()
	if err != nil {
		return err
	}
	if typ == ngMagic {
		return r.frameSectionRest()
	}
	r.feed.Reset(r.block.Bytes())
	return nil
}

// nextNg frames the next pcapng blocks and hands each to pcapgo alone
// until one is a packet. A block pcapgo cannot read is skipped with a
// *RecordError.
func (r *Reader) nextNg() (Frame, error) {
	for {
		r.block.Reset()
		typ, length, off, err := r.frameBlock()
		if err != nil {
			return Frame{}, err
		}
		if typ == ngMagic {
			if err := r.frameSectionRest(); err != nil {
				return Frame{}, err
			}
		} else {
			r.feed.Reset(r.block.Bytes())
		}
		// r.fb is empty here: pcapgo read the last block to its end, or
		// corrupt dropped what it left.
		isPacket := typ == ngBlockEnhanced || typ == ngBlockSimple || typ == ngBlockPacket
		corrupt := func(err error) error {
			// Drop what pcapgo left of the block.
			r.feed.Reset(nil)
			r.fb.Reset(r.feed)
			re := &RecordError{Offset: off, Err: err}
			if isPacket {
				r.n++
				re.Record = r.n
			}
			re.Next = r.n + 1
			return re
		}
		if typ == ngBlockEnhanced && length >= 32 {
			b := r.block.Bytes()
			if caplen := r.ngOrder().Uint32(b[20:24]); caplen > length-32 {
				return Frame{}, corrupt(fmt.Errorf("capture length %d beyond the end of its %d-byte block", caplen, length))
			}
		}
		if length%4 != 0 {
			return Frame{}, corrupt(fmt.Errorf("block length %d is not a multiple of 4", length))
		}
		data, ci, opts, err := r.ng.ReadPacketDataWithOptions()
		if err == nil && (r.feed.Len() > 0 || r.fb.Buffered() > 0) {
			err = fmt.Errorf("%d bytes of the block left unread", r.feed.Len()+r.fb.Buffered())
		}
		if errors.Is(err, io.EOF) {
			continue // a block that is no packet, read
		}
		if err != nil {
			return Frame{}, corrupt(err)
		}
		r.n++
		f := Frame{
			Number:   r.n,
			Time:     ci.Timestamp,
			Data:     data,
			Length:   ci.Length,
			Type:     typeFromFlags(opts.Flags),
			Comments: opts.Comments,
		}
		if intf, ierr := r.ng.Interface(ci.InterfaceIndex); ierr == nil {
			f.Iface = intf.Name
		}
		return f, nil
	}
}

// frameSectionRest frames the blocks after a section header block (already
// in r.block) up to the section's first interface description.
func (r *Reader) frameSectionRest() error {
	for {
		typ, _, _, err := r.frameBlock()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if typ == ngBlockIDB {
			break
		}
	}
	r.feed.Reset(r.block.Bytes())
	return nil
}

// flagsFor maps the kernel's packet type to pcapng epb_flags; nil for
// PacketUnknown.
func flagsFor(t responder.PacketType) *pcapgo.NgEpbFlags {
	f := &pcapgo.NgEpbFlags{Direction: pcapgo.NgEpbFlagDirectionInbound}
	switch t {
	case responder.PacketHost:
		f.Reception = pcapgo.NgEpbFlagReceptionTypeUnicast
	case responder.PacketBroadcast:
		f.Reception = pcapgo.NgEpbFlagReceptionTypeBroadcast
	case responder.PacketMulticast:
		f.Reception = pcapgo.NgEpbFlagReceptionTypeMulticast
	case responder.PacketOtherHost:
		f.Reception = pcapgo.NgEpbFlagReceptionTypePromiscuous
	case responder.PacketOutgoing:
		f.Direction = pcapgo.NgEpbFlagDirectionOutbound
	default:
		return nil
	}
	return f
}

// typeFromFlags is the inverse of flagsFor. Inbound frames without a
// reception type are PacketUnknown.
func typeFromFlags(f *pcapgo.NgEpbFlags) responder.PacketType {
	if f == nil {
		return responder.PacketUnknown
	}
	if f.Direction == pcapgo.NgEpbFlagDirectionOutbound {
		return responder.PacketOutgoing
	}
	switch f.Reception {
	case pcapgo.NgEpbFlagReceptionTypeUnicast:
		return responder.PacketHost
	case pcapgo.NgEpbFlagReceptionTypeBroadcast:
		return responder.PacketBroadcast
	case pcapgo.NgEpbFlagReceptionTypeMulticast:
		return responder.PacketMulticast
	case pcapgo.NgEpbFlagReceptionTypePromiscuous:
		return responder.PacketOtherHost
	}
	return responder.PacketUnknown
}

// Decision comments: "proxyarp decision=answer reason=answer reply=sent".
const commentPrefix = "proxyarp decision="

// Reply states in decision comments.
const (
	replySent   = "sent"
	replyNone   = "none"
	replyFailed = "failed"
)

// decisionComment formats the comment recorded with a received frame.
func decisionComment(reason responder.Reason, werr error) string {
	decision := "drop"
	reply := replyNone
	if reason == responder.Answer {
		decision = "answer"
		reply = replySent
		if werr != nil {
			return fmt.Sprintf("%s%s reason=%s reply=%s error=%q", commentPrefix, decision, reason, replyFailed, werr.Error())
		}
	}
	return commentPrefix + decision + " reason=" + reason.String() + " reply=" + reply
}

// Recorded is a decision read back from a frame's comment.
type Recorded struct {
	// Reason is the recorded Decide outcome.
	Reason responder.Reason
	// Reply is "sent", "none" or "failed".
	Reply string
}

// RecordedDecision finds the decision comment among a frame's comments. It
// reports false when there is none; a comment that starts like one but
// cannot be parsed is an error.
func RecordedDecision(comments []string) (Recorded, bool, error) {
	for _, c := range comments {
		if !strings.HasPrefix(c, commentPrefix) {
			continue
		}
		var rec Recorded
		var decision, reason string
		for _, kv := range strings.Fields(strings.TrimPrefix(c, "proxyarp ")) {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "decision":
				decision = v
			case "reason":
				reason = v
			case "reply":
				rec.Reply = v
			}
		}
		r, ok := responder.ParseReason(reason)
		if !ok {
			return Recorded{}, false, fmt.Errorf("decision comment %q: unknown reason %q", c, reason)
		}
		if (decision == "answer") != (r == responder.Answer) || (decision != "answer" && decision != "drop") {
			return Recorded{}, false, fmt.Errorf("decision comment %q: decision %q does not fit reason %q", c, decision, reason)
		}
		rec.Reason = r
		return rec, true, nil
	}
	return Recorded{}, false, nil
}
