// rng is dockercoins' random-bytes service, in Go: GET /<n> answers n bytes from crypto/rand.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// maxBytes bounds one answer: the workers ask for 32 bytes, and a request for
// gigabytes would only be a way to exhaust the service's memory.
const maxBytes = 1 << 20

func main() {
	addr := flag.String("addr", ":8080", "address to listen on (8080: the image runs as a non-root user)")
	delay := flag.Duration("delay", 0, "sleep this long before each answer of bytes; 100ms is the original rng.py")
	flag.Parse()

	srv := &http.Server{Handler: routes(*delay), ReadHeaderTimeout: 10 * time.Second}
	// As PID 1 of a container the process gets no default SIGTERM handling: stop on it explicitly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// Said once the socket is open, so whoever waits for this line can connect (and learns the port of ":0").
	log.Printf("rng: listening on %s", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-done // Serve returns as soon as Shutdown starts; the answers in flight finish first
}

func routes(delay time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		host, err := os.Hostname()
		if err != nil {
			host = "unknown"
		}
		fmt.Fprintf(w, "RNG running on %s\n", host)
	})
	mux.HandleFunc("GET /{n}", func(w http.ResponseWriter, r *http.Request) {
		// ParseUint takes no sign, so "-1" fails here like "abc" does.
		n, err := strconv.ParseUint(r.PathValue("n"), 10, 32)
		if err != nil || n > maxBytes {
			http.Error(w, fmt.Sprintf("expected a number of bytes from 0 to %d", maxBytes), http.StatusBadRequest)
			return
		}
		if delay > 0 {
			// Each request sleeps in its own goroutine; a client that hangs up stops waiting.
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		buf := make([]byte, n)
		rand.Read(buf) // never fails since Go 1.24: it crashes the program instead
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
		w.Write(buf)
	})
	return mux
}
