package explain

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the report for a person: the verdict, why, and the
// routes looked at.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	verdict := "NOT answered"
	if r.Answered {
		verdict = "answered"
	}
	fmt.Fprintf(&b, "%s: %s on %s (uplink chosen by %s)\n", r.Addr, verdict, r.Uplink, r.UplinkVia)
	fmt.Fprintf(&b, "  decision: %s   rule: %s", r.Decision, r.Rule)
	if r.Dev != "" {
		fmt.Fprintf(&b, "   dev: %s   metric: %d", r.Dev, r.Metric)
	}
	b.WriteString("\n")
	for _, s := range r.Why {
		fmt.Fprintf(&b, "  - %s\n", s)
	}
	if len(r.Routes) == 0 {
		fmt.Fprintf(&b, "  main-table routes covering %s: none\n", r.Addr)
	} else {
		fmt.Fprintf(&b, "  main-table routes covering %s:\n", r.Addr)
		for _, rt := range r.Routes {
			mark := " "
			if rt.Selected {
				mark = "*"
			}
			fmt.Fprintf(&b, "   %s %s", mark, rt.Dst)
			if rt.Type != "unicast" {
				fmt.Fprintf(&b, " %s", rt.Type)
			}
			if rt.Via != "" {
				fmt.Fprintf(&b, " via %s", rt.Via)
			}
			if rt.Dev != "" {
				fmt.Fprintf(&b, " dev %s", rt.Dev)
			}
			fmt.Fprintf(&b, " metric %d proto %d", rt.Metric, rt.Proto)
			for _, f := range rt.Flags {
				fmt.Fprintf(&b, " %s", f)
			}
			b.WriteString("\n")
		}
		b.WriteString("    (* the lowest-metric /32 routes the rule looked at)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
