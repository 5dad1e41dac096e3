// Command sums prints the sha256 of each file named, like sha256sum.
package main

import (
	"fmt"
	"os"

	"example.com/matrix/internal/digest"
)

func main() {
	status := 0
	for _, path := range os.Args[1:] {
		line, err := digest.File(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sums:", err)
			status = 1
			continue
		}
		fmt.Println(line)
	}
	os.Exit(status)
}
