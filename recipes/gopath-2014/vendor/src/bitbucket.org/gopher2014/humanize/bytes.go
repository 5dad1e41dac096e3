// Package humanize formats numbers for people.
package humanize

import "fmt"

// Bytes formats n in SI units: 1500000 is "1.5 MB".
func Bytes(n uint64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	f, units := float64(n), "kMGTPE"
	i := -1
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.1f %cB", f, units[i])
}
