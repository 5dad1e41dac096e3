// hello is the seeds' first program: the one `docker run golang go get` built.
package main

import "fmt"

func main() {
	fmt.Println("Hello, Go examples!")
}
