package capture

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/proxyarp/proxyarp/routes"
)

// Size is a byte count with an optional K, M or G suffix (powers of 1024),
// for flags such as --pcap-max-size 100M. It implements
// encoding.TextMarshaler and TextUnmarshaler, for flag.TextVar.
type Size int64

// ParseSize parses "123", "64K", "100M", "2G" (suffixes case-insensitive,
// an optional trailing B or iB allowed: "100MiB"). Zero and negative sizes
// are errors.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number of bytes with an optional K, M or G suffix", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(n * mult), nil
}

// String formats s with the largest suffix that divides it.
func (s Size) String() string {
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if s != 0 && int64(s)%u.n == 0 {
			return strconv.FormatInt(int64(s)/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseSize.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// minMaxSize keeps a rotation from happening on every frame.
const minMaxSize = 4 << 10

// Flags are serve's capture flags: --pcap FILE, --pcap-max-size SIZE,
// --pcap-files N. Register them, then Validate after parsing, then
// NewRecorder.
type Flags struct {
	// Path is --pcap; "" means no capture.
	Path string
	// MaxSize is --pcap-max-size.
	MaxSize Size
	// Files is --pcap-files.
	Files int

	fs *flag.FlagSet
}

// Register adds the flags to fs, with their defaults.
func (f *Flags) Register(fs *flag.FlagSet) {
	f.MaxSize = DefaultMaxSize
	fs.StringVar(&f.Path, "pcap", "", "record every ARP frame, decision and reply to pcapng `FILE` (answer-set state in FILE.state.json)")
	fs.TextVar(&f.MaxSize, "pcap-max-size", Size(DefaultMaxSize), "rotate the capture at this `SIZE` in bytes, with an optional K, M or G suffix")
	fs.IntVar(&f.Files, "pcap-files", DefaultFiles, "keep `N` capture files: FILE, FILE.1, ... FILE.N-1")
	f.fs = fs
}

// Validate checks the parsed values: the error names the flag. Size and
// count flags without --pcap are refused.
func (f *Flags) Validate() error {
	set := map[string]bool{}
	if f.fs != nil {
		f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	}
	if f.Path == "" {
		for _, name := range []string{"pcap-max-size", "pcap-files"} {
			if set[name] {
				return fmt.Errorf("--%s needs --pcap FILE", name)
			}
		}
		return nil
	}
	if f.Files < 1 {
		return fmt.Errorf("--pcap-files %d: want at least 1", f.Files)
	}
	if f.MaxSize < minMaxSize {
		return fmt.Errorf("--pcap-max-size %s: want at least %s", f.MaxSize, Size(minMaxSize))
	}
	if strings.HasSuffix(f.Path, "/") {
		return fmt.Errorf("--pcap %q: want a file name, not a directory", f.Path)
	}
	return nil
}

// NewRecorder returns the Recorder the flags ask for, nil when --pcap was
// not given. set is the live answer set (a *routes.Set).
func (f *Flags) NewRecorder(uplink string, guests routes.Globs, allow []netip.Prefix, set Snapshotter, log *slog.Logger) (*Recorder, error) {
	if f.Path == "" {
		return nil, nil
	}
	if set == nil {
		return nil, errors.New("capture: no answer set")
	}
	return &Recorder{
		Path:    f.Path,
		MaxSize: int64(f.MaxSize),
		Files:   f.Files,
		Uplink:  uplink,
		Guests:  guests,
		Allow:   allow,
		Set:     set,
		Log:     log,
	}, nil
}
