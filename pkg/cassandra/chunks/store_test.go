package chunks

import (
	"math/rand/v2"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	session, ks := testKeyspace(t)
	for _, codec := range []string{"zstd", "s2", "none"} {
		t.Run(codec, func(t *testing.T) {
			cfg := smallConfig()
			cfg.Codec = codec
			s := newStore(t, session, ks, cfg)
			r := rand.New(rand.NewPCG(1, 2))
			ino := uint64(100 + len(codec))
			data := append(compressible(r, 300<<10), randBytes(r, 200<<10)...)
			mustWrite(t, s, ino, 0, data)
			size := uint64(len(data))
			expectEqual(t, "read back (cached list)", mustRead(t, s, ino, 0, len(data), size), data)
			fresh := newStore(t, session, ks, cfg)
			expectEqual(t, "read back (fresh store)", mustRead(t, fresh, ino, 0, len(data), size), data)
			expectEqual(t, "middle", mustRead(t, fresh, ino, 12345, 100000, size), data[12345:112345])
			if got := mustRead(t, fresh, ino, size-10, 100, size); len(got) != 10 {
				t.Fatalf("read across EOF returned %d bytes, want 10", len(got))
			}
			if got := mustRead(t, fresh, ino, size, 100, size); len(got) != 0 {
				t.Fatalf("read at EOF returned %d bytes, want 0", len(got))
			}
			st := s.Stats()
			if codec != "none" && st.BytesStored >= st.BytesWritten {
				t.Errorf("codec %s stored %d bytes for %d written", codec, st.BytesStored, st.BytesWritten)
			}
			if codec == "none" && st.BytesStored != st.BytesWritten {
				t.Errorf("codec none stored %d bytes for %d written", st.BytesStored, st.BytesWritten)
			}
		})
	}
}
