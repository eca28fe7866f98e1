// Command gatehouse-load drives a running Gatehouse the way its clients do,
// closed-loop: each of C workers sends its next request as soon as the
// previous one answered. It reports throughput, latency percentiles and
// errors per scenario and concurrency. Run `gatehouse-load -setup-help` to
// see how to prepare a server.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "gatehouse-load:", err)
		}
		os.Exit(1)
	}
}
