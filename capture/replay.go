package capture

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/proxyarp/proxyarp/responder"
)

// Format is the output format of a replay.
type Format int

// Output formats: one line per frame.
const (
	// Text prints "FRAME TIME INGRESS PKTTYPE SENDER_MAC SENDER_IP >
	// TARGET_IP DECISION [REASON]".
	Text Format = iota
	// JSON prints one object per line, see JSONLine.
	JSON
)

// JSONLine is the object printed per frame with the JSON format.
type JSONLine struct {
	Frame     int    `json:"frame"`
	Time      string `json:"time"`
	Ingress   string `json:"ingress"`
	SenderMAC string `json:"sender_mac"`
	SenderIP  string `json:"sender_ip"`
	TargetIP  string `json:"target_ip"`
	// Decision is "answer" or "drop".
	Decision string `json:"decision"`
	// Reason is Decide's reason name ("answer" when answered).
	Reason string `json:"reason"`
}

// Replayer decides every frame of a capture again with responder.Decide.
type Replayer struct {
	// State, when set, is the answer set and configuration for every
	// frame (from --routes and --local). When nil, the state recorded
	// beside the capture (FILE.state.json) is followed frame by frame.
	State *State
	// Fallback, when set, is called by ReplayFile when State is nil and
	// the capture has no state file beside it (replay then uses the live
	// kernel's table); its State is used for every frame.
	Fallback func() (*State, error)
	// Uplink, when not empty, overrides the uplink name of the state: the
	// ingress of frames whose capture names no interface.
	Uplink string
	// UplinkMAC, when not zero, overrides the uplink MAC of the state.
	UplinkMAC responder.MAC
	// Replies, when set, receives a classic pcap (Ethernet, nanosecond
	// timestamps) of the reply each answered frame would get
	// (responder.Decision.AppendReply), stamped with the request's time.
	Replies io.Writer
	// Format is the output format.
	Format Format
	// Verify compares every decision with the one recorded in the frame's
	// comment and reports each difference on Log.
	Verify bool
	// Out receives one line per frame and nothing else.
	Out io.Writer
	// Log receives differences, errors and the summary; nil discards.
	Log io.Writer
}

// Summary is what a replay found.
type Summary struct {
	// Frames counts frames decided; Answered those decided Answer.
	Frames, Answered int
	// Differences counts frames whose decision differs from the recorded
	// one, or (with Verify) received frames with no recorded decision.
	Differences int
	// Corrupt counts the corrupt records reported: those skipped (replay
	// went on with the next record) and the one in Stopped.
	Corrupt int
	// Stopped is the error that ended reading at a corrupt or truncated
	// record whose length cannot be trusted, nil when the file was read to
	// its end.
	Stopped error
}

// ErrNoState is returned (wrapped) by Replay when no State is given and the
// capture has no state file beside it.
var ErrNoState = errors.New("no answer set")

// ReplayFile replays the capture at path; see Replay. The state file, when
// used, is path + ".state.json".
func (rp *Replayer) ReplayFile(path string) (Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return Summary{}, err
	}
	defer f.Close()
	var recs []StateRecord
	if rp.State == nil {
		sp := StatePath(path)
		recs, err = ReadStateFile(sp)
		if errors.Is(err, os.ErrNotExist) && rp.Fallback != nil {
			st, ferr := rp.Fallback()
			if ferr != nil {
				return Summary{}, ferr
			}
			r := *rp
			r.State = st
			return r.Replay(f, path, nil)
		}
		if errors.Is(err, os.ErrNotExist) {
			return Summary{}, fmt.Errorf("%w: %s has no recorded state (%s); give --routes and --local", ErrNoState, path, sp)
		}
		if err != nil {
			return Summary{}, fmt.Errorf("read state: %w", err)
		}
	}
	return rp.Replay(f, path, recs)
}

// Replay decides every frame read from r, named name in messages. With
// State nil, recs is the recorded state (it must not be empty). It returns
// an error only when r cannot be read at all (not a capture, not
// Ethernet). A corrupt record is reported on Log and counted in
// Summary.Corrupt; replay goes on with the next record when the reader
// could skip it, else it ends with Summary.Stopped set.
func (rp *Replayer) Replay(r io.Reader, name string, recs []StateRecord) (Summary, error) {
	var sum Summary
	logw := rp.Log
	if logw == nil {
		logw = io.Discard
	}
	rd, err := NewReader(r)
	if err != nil {
		return sum, fmt.Errorf("%s: %w", name, err)
	}
	var st State
	if rp.State != nil {
		st = *rp.State
	} else if len(recs) == 0 {
		return sum, fmt.Errorf("%w for %s", ErrNoState, name)
	}
	if st.Set == nil {
		st.Set = NewStaticSet(nil, nil)
	}
	var replies *pcapgo.Writer
	var reply []byte
	if rp.Replies != nil {
		replies = pcapgo.NewWriterNanos(rp.Replies)
		if err := replies.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			return sum, fmt.Errorf("write replies: %w", err)
		}
		reply = make([]byte, 0, responder.ReplyLen)
	}
	out := bufio.NewWriter(rp.Out)
	defer out.Flush()
	enc := json.NewEncoder(out)
	warnedMAC := false
	for {
		f, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var skipped *RecordError
		if errors.As(err, &skipped) {
			sum.Corrupt++
			fmt.Fprintf(logw, "replay: %s: %v; skipped\n", name, err)
			continue
		}
		if err != nil {
			sum.Corrupt++
			sum.Stopped = fmt.Errorf("%s: %w", name, err)
			fmt.Fprintf(logw, "replay: %v; cannot read on\n", sum.Stopped)
			break
		}
		for len(recs) > 0 && recs[0].FromFrame <= f.Number {
			if err := st.Apply(recs[0]); err != nil {
				return sum, fmt.Errorf("%s: state: %w", name, err)
			}
			recs = recs[1:]
		}
		in := responder.Ingress{Name: f.Iface, MAC: st.UplinkMAC, Type: f.Type}
		if !rp.UplinkMAC.IsZero() {
			in.MAC = rp.UplinkMAC
		}
		if in.Name == "" {
			in.Name = st.Uplink
			if rp.Uplink != "" {
				in.Name = rp.Uplink
			}
		}
		if in.Name == "" {
			in.Name = "-"
		}
		if in.MAC.IsZero() && !warnedMAC {
			warnedMAC = true
			fmt.Fprintf(logw, "replay: %s: uplink MAC unknown (give --uplink-mac): requests unicast to it are decided not-for-us\n", name)
		}
		d := responder.Decide(f.Data, in, st.Set, &st.Config)
		sum.Frames++
		if d.Reason == responder.Answer {
			sum.Answered++
			if replies != nil {
				reply = d.AppendReply(reply[:0])
				ci := gopacket.CaptureInfo{Timestamp: f.Time, CaptureLength: len(reply), Length: len(reply)}
				if err := replies.WritePacket(ci, reply); err != nil {
					return sum, fmt.Errorf("write replies: %w", err)
				}
			}
		}
		if rp.Format == JSON {
			if err := enc.Encode(jsonLine(f, in, d)); err != nil {
				return sum, fmt.Errorf("write output: %w", err)
			}
		} else if _, err := out.WriteString(textLine(f, in, d)); err != nil {
			return sum, fmt.Errorf("write output: %w", err)
		}
		if rp.Verify && f.Type != responder.PacketOutgoing {
			rec, ok, err := RecordedDecision(f.Comments)
			switch {
			case err != nil:
				sum.Differences++
				fmt.Fprintf(logw, "replay: %s: frame %d: %v\n", name, f.Number, err)
			case !ok:
				sum.Differences++
				fmt.Fprintf(logw, "replay: %s: frame %d: no recorded decision to verify\n", name, f.Number)
			case rec.Reason != d.Reason:
				sum.Differences++
				fmt.Fprintf(logw, "replay: %s: frame %d: recorded %s, replay decides %s\n", name, f.Number, describe(rec.Reason), describe(d.Reason))
			}
		}
	}
	return sum, nil
}

// describe names a decision: "answer" or "drop (not-owned)".
func describe(r responder.Reason) string {
	if r == responder.Answer {
		return "answer"
	}
	return "drop (" + r.String() + ")"
}

// fields returns the printable sender MAC, sender IP and target IP: empty
// when Decide did not get as far as the ARP payload (the IPv6 header).
func fields(d responder.Decision) (mac, sip, tip string) {
	r := d.Request
	if !r.SenderIP.IsValid() {
		return "", "", ""
	}
	if r.Proto == responder.ProtoNDP {
		// Decide stops before the ICMPv6 message for some frames (our
		// own advertisements, outgoing): show the Ethernet source and
		// the IPv6 destination rather than nothing.
		mac, tgt := r.SenderMAC, r.TargetIP
		if mac.IsZero() {
			mac = r.EthSrc
		}
		if !tgt.IsValid() {
			tgt = r.DstIP
		}
		return mac.String(), r.SenderIP.String(), tgt.String()
	}
	return r.SenderMAC.String(), r.SenderIP.String(), r.TargetIP.String()
}

func jsonLine(f Frame, in responder.Ingress, d responder.Decision) JSONLine {
	mac, sip, tip := fields(d)
	decision := "drop"
	if d.Reason == responder.Answer {
		decision = "answer"
	}
	return JSONLine{
		Frame:     f.Number,
		Time:      f.Time.UTC().Format(time.RFC3339Nano),
		Ingress:   in.Name,
		SenderMAC: mac,
		SenderIP:  sip,
		TargetIP:  tip,
		Decision:  decision,
		Reason:    d.Reason.String(),
	}
}

func textLine(f Frame, in responder.Ingress, d responder.Decision) string {
	mac, sip, tip := fields(d)
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %s %s %s %s > %s %s\n",
		f.Number, f.Time.UTC().Format(time.RFC3339Nano), in.Name, in.Type,
		dash(mac), dash(sip), dash(tip), describe(d.Reason))
	return b.String()
}
