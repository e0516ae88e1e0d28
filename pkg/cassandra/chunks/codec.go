package chunks

import (
	"fmt"
	"sync"
	"syscall"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Codec bytes stored with every block. Never renumber them.
const (
	codecNone byte = 0
	codecZstd byte = 1
	codecS2   byte = 2
)

var codecByName = map[string]byte{"none": codecNone, "zstd": codecZstd, "s2": codecS2}

// codecs compresses and decompresses blocks; safe for concurrent use.
type codecs struct {
	use  byte
	zenc *zstd.Encoder
	zdec *zstd.Decoder
	bufs sync.Pool // *[]byte scratch for compressed output
}

func newCodecs(name string, par int) (*codecs, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(par))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(par), zstd.WithDecoderMaxMemory(2*MaxBlockSize))
	if err != nil {
		return nil, err
	}
	return &codecs{use: codecByName[name], zenc: enc, zdec: dec}, nil
}

// encode compresses raw with the configured codec. It returns the codec byte and the stored bytes, which may be
// raw itself (when compression does not shrink it). release must be called once the bytes are no longer used.
func (c *codecs) encode(raw []byte) (codec byte, data []byte, release func()) {
	if c.use == codecNone {
		return codecNone, raw, func() {}
	}
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, len(raw)+len(raw)/8+64)
		bp = &b
	}
	var out []byte
	switch c.use {
	case codecZstd:
		if c.incompressible(raw, (*bp)[:0]) {
			c.bufs.Put(bp)
			return codecNone, raw, func() {}
		}
		out = c.zenc.EncodeAll(raw, (*bp)[:0])
	case codecS2:
		out = s2.Encode((*bp)[:cap(*bp)], raw)
	}
	*bp = out[:0]
	release = func() { c.bufs.Put(bp) }
	if len(out) >= len(raw) {
		return codecNone, raw, release
	}
	return c.use, out, release
}

// decode returns the rawLen uncompressed bytes of a stored block.
func (c *codecs) decode(codec byte, data []byte, rawLen int) ([]byte, error) {
	var out []byte
	var err error
	switch codec {
	case codecNone:
		out = data
	case codecZstd:
		out, err = c.zdec.DecodeAll(data, make([]byte, 0, rawLen))
	case codecS2:
		var n int
		if n, err = s2.DecodedLen(data); err == nil && n != rawLen {
			err = fmt.Errorf("s2 length %d", n)
		}
		if err == nil {
			out, err = s2.Decode(make([]byte, rawLen), data)
		}
	default:
		err = fmt.Errorf("unknown codec %d", codec)
	}
	if err == nil && len(out) != rawLen {
		err = fmt.Errorf("decoded %d bytes, want %d", len(out), rawLen)
	}
	if err != nil {
		return nil, fmt.Errorf("chunks: corrupt block: %v: %w", err, syscall.EIO)
	}
	return out, nil
}

// Sampling: a block is stored without trying zstd when three samples of it (start, middle, end) each shrink by
// less than 2%. It costs a twentieth of compressing a random 1 MiB block; data whose only redundancy lies beyond
// a sample's reach is then stored uncompressed, which costs space, never correctness.
const (
	sampleLen      = 16 << 10
	sampleMinBlock = 4 * sampleLen
)

func (c *codecs) incompressible(raw, scratch []byte) bool {
	if len(raw) < sampleMinBlock {
		return false
	}
	for _, at := range []int{0, len(raw)/2 - sampleLen/2, len(raw) - sampleLen} {
		sample := raw[at : at+sampleLen]
		if out := c.zenc.EncodeAll(sample, scratch[:0]); len(out) < sampleLen-sampleLen/50 {
			return false
		}
	}
	return true
}
