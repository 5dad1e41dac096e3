// Command matrix says which platform it was built for.
package main

import (
	"fmt"

	"example.com/matrix/internal/platform"
)

func main() {
	fmt.Println("matrix built for", platform.Describe())
}
