//go:build windows

package platform

import "path/filepath"

// ConfigDir is where an app keeps its settings on Windows.
func ConfigDir(app string) string {
	return filepath.Join(`C:\ProgramData`, app)
}
