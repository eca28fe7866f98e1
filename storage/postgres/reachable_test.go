package postgres

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// The fault: a server that accepts the connection and never answers.
// Reachable must give up when its context does, with an error that holds
// no part of the DSN's password; a live server is reachable.
func TestReachable(t *testing.T) {
	if err := Reachable(t.Context(), pgtest.DSN(t)); err != nil {
		t.Fatalf("Reachable on the test server: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = Reachable(ctx, "postgres://gh:s3cret-pw@"+ln.Addr().String()+"/test?sslmode=disable")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
		t.Errorf("Reachable on a silent server: got %v, want a timeout", err)
	}
	if err != nil && strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("the error holds the password: %v", err)
	}
}
