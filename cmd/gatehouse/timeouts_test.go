package main

import (
	"strings"
	"testing"
	"time"
)

// TestStoreTimeoutSettings checks that the Redis connect, read and write
// timeouts are read from the file and the environment, each on its own,
// and that out-of-range values are refused with the field's name.
func TestStoreTimeoutSettings(t *testing.T) {
	file := "redis_connect_timeout: 3s\nredis_read_timeout: 750ms\n"
	env := map[string]string{"GATEHOUSE_REDIS_WRITE_TIMEOUT": "300ms", "GATEHOUSE_REDIS_READ_TIMEOUT": "1500ms"}
	got, err := loadConfig("", false, configTestEnv(env), configTestFiles(map[string]string{"gatehouse.yaml": file}))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if got.RedisConnectTimeout != 3*time.Second || got.RedisReadTimeout != 1500*time.Millisecond || got.RedisWriteTimeout != 300*time.Millisecond {
		t.Errorf("got connect %s, read %s, write %s; want 3s (file), 1.5s (environment over file), 300ms (environment)",
			got.RedisConnectTimeout, got.RedisReadTimeout, got.RedisWriteTimeout)
	}

	bad := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"GATEHOUSE_REDIS_CONNECT_TIMEOUT": "0s"}, "GATEHOUSE_REDIS_CONNECT_TIMEOUT: redis_connect_timeout: must be between 1ms and 30s (got 0s)"},
		{map[string]string{"GATEHOUSE_REDIS_READ_TIMEOUT": "-1s"}, "GATEHOUSE_REDIS_READ_TIMEOUT: redis_read_timeout: must be between 1ms and 30s (got -1s)"},
		{map[string]string{"GATEHOUSE_REDIS_WRITE_TIMEOUT": "31s"}, "GATEHOUSE_REDIS_WRITE_TIMEOUT: redis_write_timeout: must be between 1ms and 30s (got 31s)"},
		{map[string]string{"GATEHOUSE_REDIS_READ_TIMEOUT": "soon"}, `GATEHOUSE_REDIS_READ_TIMEOUT: redis_read_timeout: not a duration: "soon"`},
		// The single timeout of earlier versions says what replaced it.
		{map[string]string{"GATEHOUSE_REDIS_TIMEOUT": "200ms"}, "GATEHOUSE_REDIS_TIMEOUT: redis_timeout: no longer read: set redis_connect_timeout"},
	}
	for _, tt := range bad {
		_, err := loadConfig("", false, configTestEnv(tt.env), configTestFiles(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want an error containing %q", tt.env, err, tt.want)
		}
	}
	_, err = loadConfig("", false, configTestEnv(nil), configTestFiles(map[string]string{"gatehouse.yaml": "redis_timeout: 200ms\n"}))
	if err == nil || !strings.Contains(err.Error(), "gatehouse.yaml:1: redis_timeout: no longer read") {
		t.Errorf("redis_timeout in the file: got %v, want it refused with what replaced it", err)
	}
}
