// Package greet says hello; a library, with no command of its own.
package greet

// Hello greets name.
func Hello(name string) string {
	return "Hello, " + name + "!"
}
