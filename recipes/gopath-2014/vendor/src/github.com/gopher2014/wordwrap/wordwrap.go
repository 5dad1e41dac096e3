// Package wordwrap wraps text at word boundaries.
package wordwrap

import "strings"

// Wrap breaks s into lines of at most width columns, between words.
func Wrap(s string, width int) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return strings.Join(append(lines, line), "\n")
}
