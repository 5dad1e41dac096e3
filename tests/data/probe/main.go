// probe does one thing per subcommand that a sandbox test wants to observe from inside.
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe write|ps|dial|forkbomb|hog|sleep|id|ls ARGS")
		os.Exit(2)
	}
	arg := ""
	if len(os.Args) > 2 {
		arg = os.Args[2]
	}
	switch os.Args[1] {
	case "write":
		// Each path: "ok PATH" or "err PATH: reason".
		for _, p := range os.Args[2:] {
			if err := os.WriteFile(p, []byte("escaped\n"), 0o644); err != nil {
				fmt.Printf("err %s: %v\n", p, err)
			} else {
				fmt.Printf("ok %s\n", p)
			}
		}
	case "ps":
		entries, _ := filepath.Glob("/proc/[0-9]*")
		for _, e := range entries {
			comm, _ := os.ReadFile(e + "/comm")
			fmt.Printf("%s %s\n", filepath.Base(e), strings.TrimSpace(string(comm)))
		}
	case "dial":
		c, err := net.DialTimeout("tcp", arg, 3*time.Second)
		if err != nil {
			fmt.Println("dial failed:", err)
			os.Exit(1)
		}
		c.Close()
		fmt.Println("connected")
	case "forkbomb":
		n, _ := strconv.Atoi(arg)
		var procs []*exec.Cmd
		for i := 0; i < n; i++ {
			cmd := exec.Command("/proc/self/exe", "sleep", "20")
			if err := cmd.Start(); err != nil {
				fmt.Printf("fork failed after %d: %v\n", i, err)
				break
			}
			procs = append(procs, cmd)
		}
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
		fmt.Printf("started %d\n", len(procs))
		if len(procs) < n {
			os.Exit(1)
		}
	case "hog":
		mb, _ := strconv.Atoi(arg)
		var keep [][]byte
		for i := 0; i < mb; i++ {
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			keep = append(keep, b)
		}
		fmt.Printf("allocated %d MiB\n", len(keep))
	case "sleep":
		s, _ := strconv.Atoi(arg)
		fmt.Println("sleeping")
		time.Sleep(time.Duration(s) * time.Second)
	case "id":
		status, _ := os.ReadFile("/proc/self/status")
		host, _ := os.Hostname()
		fmt.Printf("uid=%d gid=%d pid=%d host=%s\n", os.Getuid(), os.Getgid(), os.Getpid(), host)
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "Cap") || strings.HasPrefix(line, "NoNewPrivs") {
				fmt.Println(strings.Join(strings.Fields(line), " "))
			}
		}
		for _, k := range []string{"HOME", "PATH", "GOROOT", "GOTOOLCHAIN", "SECRET"} {
			fmt.Printf("%s=%s\n", k, os.Getenv(k))
		}
	case "ls":
		entries, err := os.ReadDir(arg)
		if err != nil {
			fmt.Println("err:", err)
			os.Exit(1)
		}
		for _, e := range entries {
			fmt.Println(e.Name())
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown subcommand", os.Args[1])
		os.Exit(2)
	}
}
