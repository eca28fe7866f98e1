package main

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestListenLocalhost: listen on localhost serves both loopback addresses
// on one port (a browser sent to http://localhost may try either), and no
// other address.
func TestListenLocalhost(t *testing.T) {
	ln, err := listen("localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addrs := strings.Fields(ln.Addr().String())
	v6 := true
	if probe, err := net.Listen("tcp", "[::1]:0"); err != nil {
		v6 = false // no IPv6 loopback on this machine
	} else {
		probe.Close()
	}
	if want := map[bool]int{true: 2, false: 1}[v6]; len(addrs) != want {
		t.Fatalf("listen(localhost:0) bound %q, want %d addresses", addrs, want)
	}
	_, port, _ := net.SplitHostPort(addrs[0])
	wantAddrs := []string{"127.0.0.1:" + port, "[::1]:" + port}[:len(addrs)]
	for i, want := range wantAddrs {
		if addrs[i] != want {
			t.Errorf("address %d: got %s, want %s", i, addrs[i], want)
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	for _, a := range wantAddrs {
		c, err := net.DialTimeout("tcp", a, 5*time.Second)
		if err != nil {
			t.Errorf("dial %s: %v", a, err)
			continue
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != "hi" {
			t.Errorf("dial %s: got %q, want the listener's answer", a, b)
		}
	}
	// Not on the machine's other addresses.
	if ifs, err := net.InterfaceAddrs(); err == nil {
		for _, ia := range ifs {
			ip, _, _ := net.ParseCIDR(ia.String())
			if ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
				continue
			}
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), time.Second); err == nil {
				c.Close()
				t.Errorf("listen(localhost:0) answers on %s", ip)
			}
		}
	}
	if err := ln.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: got %v, want net.ErrClosed", err)
	}
}

// TestLoadConfigListenFollowsIssuer: unless listen is set, serve listens on
// loopback only for an issuer on loopback (the newcomer's
// http://localhost:8080) and on every interface for any other issuer.
func TestLoadConfigListenFollowsIssuer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		files map[string]string
		want  string
	}{
		{"nothing set", nil, nil, "localhost:8080"},
		{"issuer 127.0.0.1", map[string]string{"GATEHOUSE_ISSUER": "http://127.0.0.1:8080"}, nil, "localhost:8080"},
		{"issuer [::1]", map[string]string{"GATEHOUSE_ISSUER": "http://[::1]:8080"}, nil, "localhost:8080"},
		{"public issuer", map[string]string{"GATEHOUSE_ISSUER": "https://login.example.com"}, nil, ":8080"},
		{"public issuer in the file", nil, map[string]string{"gatehouse.yaml": "issuer: https://login.example.com\n"}, ":8080"},
		{"listen set for a loopback issuer", map[string]string{"GATEHOUSE_LISTEN": ":8080"}, nil, ":8080"},
		{"listen set for a public issuer", map[string]string{"GATEHOUSE_ISSUER": "https://login.example.com", "GATEHOUSE_LISTEN": "10.0.0.5:443"}, nil, "10.0.0.5:443"},
		{"listen in the file", map[string]string{"GATEHOUSE_ISSUER": "https://login.example.com"}, map[string]string{"gatehouse.yaml": "listen: localhost:9000\n"}, "localhost:9000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig("", false, configTestEnv(tc.env), configTestFiles(tc.files))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen != tc.want {
				t.Errorf("listen: got %q, want %q", cfg.Listen, tc.want)
			}
		})
	}
}
