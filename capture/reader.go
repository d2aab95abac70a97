package capture

import (
	"bufio"
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

// Reader reads frames from a classic pcap or a pcapng capture, Ethernet
// only.
type Reader struct {
	pcap *pcapgo.Reader
	ng   *pcapgo.NgReader
	n    int
	err  error
}

// pcapng files start with a section header block.
const ngMagic = 0x0A0D0D0A

// NewReader detects the format of r (classic pcap in any byte order and
// timestamp precision, or pcapng) and reads its header. It fails for
// anything else, and with ErrLinkType for a link type other than Ethernet.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReader(r)
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
	rd := &Reader{}
	if binary.LittleEndian.Uint32(head) == ngMagic {
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{})
		if err != nil {
			return nil, fmt.Errorf("pcapng header: %w", err)
		}
		rd.ng, lt = ng, ng.LinkType()
	} else {
		p, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("not a pcap or pcapng capture: %w", err)
		}
		rd.pcap, lt = p, p.LinkType()
	}
	if lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("%w: %s (%d)", ErrLinkType, lt, uint16(lt))
	}
	return rd, nil
}

// Next returns the next frame; io.EOF after the last. Any other error means
// record Number (the one that would have been next) is corrupt or
// truncated: the formats give no reliable way to find the record after it,
// so Next keeps returning that error.
func (r *Reader) Next() (Frame, error) {
	if r.err != nil {
		return Frame{}, r.err
	}
	var (
		f    Frame
		data []byte
		ci   gopacket.CaptureInfo
		err  error
	)
	if r.ng != nil {
		var opts pcapgo.NgPacketOptions
		data, ci, opts, err = r.ng.ReadPacketDataWithOptions()
		if err == nil {
			if intf, ierr := r.ng.Interface(ci.InterfaceIndex); ierr == nil {
				f.Iface = intf.Name
			}
			f.Type = typeFromFlags(opts.Flags)
			f.Comments = opts.Comments
		}
	} else {
		data, ci, err = r.pcap.ReadPacketData()
		f.Type = responder.PacketUnknown
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			r.err = io.EOF
			return Frame{}, io.EOF
		}
		r.err = fmt.Errorf("record %d: %w", r.n+1, err)
		return Frame{}, r.err
	}
	r.n++
	f.Number = r.n
	f.Time = ci.Timestamp
	f.Data = data
	f.Length = ci.Length
	return f, nil
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
