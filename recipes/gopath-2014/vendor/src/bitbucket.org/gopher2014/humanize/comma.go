package humanize

import "strconv"

// Comma formats n with thousands separators: 1500000 is "1,500,000".
func Comma(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
