// netgo-https fetches one HTTPS URL and prints the response's status line and body.
//
// Built static with netgo (Go's own resolver, no libc) for a FROM scratch
// image, it trusts only the CA certificates the image carries: on Linux Go
// reads /etc/ssl/certs/ca-certificates.crt and every file in /etc/ssl/certs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() {
	timeout := flag.Duration("timeout", 10*time.Second, "give up on the whole request (connect, TLS, body) after this long")
	maxBody := flag.Int64("max-body", 64<<10, "print at most this many bytes of the body, then how many more there were")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: netgo-https [-timeout 10s] [-max-body N] https://HOST/PATH\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if u, err := url.Parse(flag.Arg(0)); err != nil || u.Scheme != "https" {
		fmt.Fprintf(os.Stderr, "netgo-https: %q is not an https:// URL\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := fetch(flag.Arg(0), *timeout, *maxBody); err != nil {
		// Go's own words (e.g. "x509: certificate signed by unknown authority") say what went wrong.
		fmt.Fprintln(os.Stderr, "netgo-https:", err)
		os.Exit(1)
	}
}

func fetch(target string, timeout time.Duration, maxBody int64) error {
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(target)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Println(resp.Proto, resp.Status)
	if _, err := io.Copy(os.Stdout, io.LimitReader(resp.Body, maxBody)); err != nil {
		return err
	}
	rest, err := io.Copy(io.Discard, resp.Body)
	if rest > 0 {
		fmt.Printf("\n[%d more bytes]\n", rest)
	}
	if err != nil {
		return err
	}
	// As curl --fail: a health check or script should not mistake an error page for success.
	if resp.StatusCode >= 400 {
		return errors.New(resp.Status)
	}
	return nil
}
