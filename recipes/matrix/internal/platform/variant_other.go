//go:build !arm

package platform

func variant() string { return "" }
