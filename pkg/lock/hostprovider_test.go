package lock

import "testing"

func TestFastHostProvider(t *testing.T) {
	h := &fastHostProvider{quit: make(chan struct{})}
	if err := h.Init([]string{"a:1", "b:2"}); err != nil {
		t.Fatal(err)
	}
	if err := (&fastHostProvider{}).Init([]string{"no-port"}); err == nil {
		t.Fatalf("Init accepted a server without a port")
	}
	var got []string
	for i := 0; i < 5; i++ {
		s, retryStart := h.Next()
		if retryStart {
			t.Fatalf("retryStart before quit: the library would sleep a full second")
		}
		got = append(got, s)
	}
	if want := []string{"a:1", "b:2", "a:1", "b:2", "a:1"}; !equal(got, want) {
		t.Fatalf("servers %v, want %v", got, want)
	}
	if h.backoff <= minReconnectBackoff {
		t.Fatalf("no backoff after a full round of failures")
	}
	h.Connected()
	if h.backoff != minReconnectBackoff || h.tried != 0 {
		t.Fatalf("Connected did not reset the backoff")
	}
	close(h.quit)
	if _, retryStart := h.Next(); !retryStart {
		t.Fatalf("after quit, Next must report retryStart so the library sees its Close")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
