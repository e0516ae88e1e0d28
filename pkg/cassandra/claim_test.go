package cassandra

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cassfs/cassfs/pkg/lock"
)

func TestClaimNode(t *testing.T) {
	c := testCluster(t)
	info := testVolume(t, c, 0, nil)
	a := openVolume(t, c, info.Spec.ID, "sa", lock.NewLocal())
	b := openVolume(t, c, info.Spec.ID, "sb", lock.NewLocal())
	ctx := context.Background()

	if err := a.ClaimNode(ctx, "node-a", time.Minute); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if err := a.ClaimNode(ctx, "node-a", time.Minute); err != nil {
		t.Fatalf("renewal by the holder: %v", err)
	}
	err := b.ClaimNode(ctx, "node-b", time.Minute)
	if !errors.Is(err, ErrClaimed) || !strings.Contains(err.Error(), "node-a") {
		t.Fatalf("claim by a second node: %v, want ErrClaimed naming node-a", err)
	}
	if err := b.ReleaseNode(ctx, "node-b"); err != nil {
		t.Fatalf("release of a claim not held: %v", err)
	}
	if err := b.ClaimNode(ctx, "node-b", time.Minute); !errors.Is(err, ErrClaimed) {
		t.Fatalf("a release by a non-holder must leave the claim: %v", err)
	}
	if err := a.ReleaseNode(ctx, "node-a"); err != nil {
		t.Fatalf("release: %v", err)
	}
	if err := b.ClaimNode(ctx, "node-b", 2*time.Second); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	// A holder that stops renewing (a dead node) loses the claim once its TTL has passed.
	if err := a.ClaimNode(ctx, "node-a", time.Minute); !errors.Is(err, ErrClaimed) {
		t.Fatalf("claim while node-b holds it: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := a.ClaimNode(ctx, "node-a", time.Minute)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrClaimed) || time.Now().After(deadline) {
			t.Fatalf("claim after the holder's TTL: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := a.ClaimNode(ctx, "", time.Minute); !errors.Is(err, ErrInvalidParameter) {
		t.Fatalf("empty node: %v, want ErrInvalidParameter", err)
	}
}
