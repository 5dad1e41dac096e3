//go:build arm

package platform

import "runtime/debug"

// variant reports GOARM from the build settings, e.g. "/v7".
func variant() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "GOARM" {
				return "/v" + s.Value
			}
		}
	}
	return ""
}
