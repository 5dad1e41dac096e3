// cgo calls a few lines of C, which call their C library, and says which C library that was.
package main

/*
#include <stdio.h>
#include <stdlib.h>
#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#endif

static int ascending(const void *a, const void *b) {
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static void sort_ints(int *v, size_t n) { qsort(v, n, sizeof *v, ascending); }

// The libc this binary is linked against, named by the headers it was compiled with:
// musl deliberately defines no macro of its own, so on Linux "not glibc" is musl here
// (zig's Linux targets link musl).
static const char *libc_name(void) {
	static char name[64];
#if defined(__GLIBC__)
	snprintf(name, sizeof name, "glibc %s", gnu_get_libc_version());
#elif defined(_WIN32)
	snprintf(name, sizeof name, "mingw-w64 %d.%d", __MINGW64_VERSION_MAJOR, __MINGW64_VERSION_MINOR);
#elif defined(__linux__)
	snprintf(name, sizeof name, "musl");
#else
	snprintf(name, sizeof name, "an unknown libc");
#endif
	return name;
}
*/
import "C"

import (
	"fmt"
	"runtime"
)

func main() {
	v := []C.int{3, 1, 4, 1, 5, 9, 2, 6}
	C.sort_ints(&v[0], C.size_t(len(v)))
	fmt.Printf("C's qsort on %s/%s: %v\n", runtime.GOOS, runtime.GOARCH, v)
	fmt.Printf("libc: %s\n", C.GoString(C.libc_name()))
}
