// gopath-2014 prints byte counts for people, wrapped to a width: a 2014 tool, built with go get and GOPATH.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"bitbucket.org/gopher2014/humanize"
	"github.com/gopher2014/wordwrap"
)

func main() {
	width := flag.Int("width", 40, "wrap the report at this many columns")
	version := flag.Bool("version", false, "print the Go version this was built with")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s [-width N] [-version] BYTES...\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if *version {
		fmt.Println(runtime.Version())
		return
	}
	var parts []string
	for _, arg := range flag.Args() {
		n, err := strconv.ParseUint(arg, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %s: not a byte count\n", os.Args[0], arg)
			os.Exit(2)
		}
		parts = append(parts, fmt.Sprintf("%s bytes is %s;", humanize.Comma(n), humanize.Bytes(n)))
	}
	fmt.Println(wordwrap.Wrap(strings.Join(parts, " "), *width))
}
