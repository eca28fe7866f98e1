package storagetest

import (
	"sync"
	"time"
)

// ObservedCall is one call a backend reported to its storage.CallObserver.
type ObservedCall struct {
	Backend, Op string
	Failed      bool
}

// CallRecorder is a storage.CallObserver that keeps what it is told, for
// the backends' observer tests.
type CallRecorder struct {
	mu    sync.Mutex
	calls []ObservedCall
}

// Observe records the call.
func (r *CallRecorder) Observe(backend, op string, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, ObservedCall{backend, op, err != nil})
}

// Take returns the calls since the last Take.
func (r *CallRecorder) Take() []ObservedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}
