// Package platform describes the system a binary was built for.
package platform

import (
	"fmt"
	"runtime"
)

// Describe names the target this binary was compiled for and where it keeps its configuration.
func Describe() string {
	return fmt.Sprintf("%s/%s%s config=%s", runtime.GOOS, runtime.GOARCH, variant(), ConfigDir("matrix"))
}
