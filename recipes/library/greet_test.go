package greet

import "fmt"

func ExampleHello() {
	fmt.Println(Hello("Go examples"))
	// Output: Hello, Go examples!
}
