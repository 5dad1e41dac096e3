//go:build !windows

package platform

import "path/filepath"

// ConfigDir is where an app keeps its settings on Unix-like systems.
func ConfigDir(app string) string {
	return filepath.Join("/etc", app)
}
