package chunks

import "sort"

// sliceKey orders slices of one chunk: the newest (largest) key wins where slices overlap.
// ts comes from the writer's hybrid logical clock (nanoseconds), writer is the writing Store's random id,
// gen is 0 for slices written by Write/Truncate and a random positive number for slices written by Compact
// (which take over the (ts, writer) of the newest slice they merge, so they sort just after it).
type sliceKey struct {
	ts, writer, gen int64
}

func (a sliceKey) less(b sliceKey) bool {
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	if a.writer != b.writer {
		return a.writer < b.writer
	}
	return a.gen < b.gen
}

// blockID names one immutable block: the id of the Store that wrote it and a sequence number of that Store.
type blockID struct {
	writer, seq int64
}

// slice is one record of a chunk's append-only slice list: bytes [pos, pos+length) of the chunk, stored in
// consecutive blocks (bwriter, bseq+i) of bsize uncompressed bytes each (the last one shorter), or zeros.
type slice struct {
	key     sliceKey
	pos     uint64
	length  uint64
	zero    bool
	bwriter int64
	bseq    int64
	bsize   uint64
}

func (s *slice) end() uint64 { return s.pos + s.length }

// nblocks is the number of blocks holding the slice's bytes (0 for a zero slice).
func (s *slice) nblocks() int {
	if s.zero || s.length == 0 {
		return 0
	}
	return int((s.length + s.bsize - 1) / s.bsize)
}

func (s *slice) block(i int) blockID { return blockID{s.bwriter, s.bseq + int64(i)} }

// blockLen is the uncompressed length of block i of the slice.
func (s *slice) blockLen(i int) uint64 {
	start := uint64(i) * s.bsize
	return min(s.bsize, s.length-start)
}

// segment is a piece of a read plan: chunk bytes [off, off+length) come from slice src (an index into the list
// given to plan), or are zeros when src < 0: srcHole where no slice covers them, srcZero where a zero slice wins.
type segment struct {
	off, length uint64
	src         int
}

const (
	srcHole = -1
	srcZero = -2
)

// sortSlices orders a slice list oldest first.
func sortSlices(l []slice) {
	sort.Slice(l, func(i, j int) bool { return l[i].key.less(l[j].key) })
}

// plan resolves the slice list l (sorted oldest first) over chunk bytes [a, b): it returns segments in offset
// order that cover [a, b) exactly, each taken from the newest slice covering it (zeros where none does).
func plan(l []slice, a, b uint64) []segment {
	if a >= b {
		return nil
	}
	type span struct{ a, b uint64 }
	open := []span{{a, b}} // ranges not yet resolved, in order
	var segs []segment
	for i := len(l) - 1; i >= 0 && len(open) > 0; i-- {
		s := &l[i]
		sa, sb := s.pos, s.end()
		if sb <= a || sa >= b || sa >= sb {
			continue
		}
		src := i
		if s.zero {
			src = srcZero
		}
		var rest []span
		for _, o := range open {
			lo, hi := max(o.a, sa), min(o.b, sb)
			if lo >= hi {
				rest = append(rest, o)
				continue
			}
			segs = append(segs, segment{off: lo, length: hi - lo, src: src})
			if o.a < lo {
				rest = append(rest, span{o.a, lo})
			}
			if hi < o.b {
				rest = append(rest, span{hi, o.b})
			}
		}
		open = rest
	}
	for _, o := range open {
		segs = append(segs, segment{off: o.a, length: o.b - o.a, src: srcHole})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].off < segs[j].off })
	// Merge neighbours that continue each other (same source, or both zeros).
	out := segs[:0]
	for _, sg := range segs {
		if n := len(out); n > 0 && out[n-1].src == sg.src && out[n-1].off+out[n-1].length == sg.off {
			out[n-1].length += sg.length
			continue
		}
		out = append(out, sg)
	}
	return out
}

// blockPiece says: length bytes at offset within of block i of a slice go to offset dst of the destination.
type blockPiece struct {
	block  int
	within uint64
	dst    uint64
	length uint64
}

// pieces splits the segment sg (taken from slice s) into per-block pieces; dstBase is where chunk offset
// sg.off lands in the destination buffer.
func pieces(s *slice, sg segment, dstBase uint64) []blockPiece {
	var out []blockPiece
	rel := sg.off - s.pos
	left := sg.length
	dst := dstBase
	for left > 0 {
		bi := rel / s.bsize
		within := rel % s.bsize
		n := min(left, s.bsize-within)
		out = append(out, blockPiece{block: int(bi), within: within, dst: dst, length: n})
		rel += n
		dst += n
		left -= n
	}
	return out
}

// run is a range of a chunk that a compaction rewrites as one slice: data (zeros in it stored as bytes), or
// zeros (a zero slice, no blocks).
type run struct {
	a, b uint64
	zero bool
}

// runs groups a plan into the slices a compaction writes. Data segments separated by fewer than gap bytes of
// zeros join one data run. Zero-slice segments outside data runs become zero runs: they still hide older data that
// might reappear (a compaction that lost a race and lands its result late), so they are kept. Holes are dropped.
func runs(segs []segment, gap uint64) []run {
	var data []run
	for _, sg := range segs {
		if sg.src < 0 {
			continue
		}
		if n := len(data); n > 0 && sg.off-data[n-1].b < gap {
			data[n-1].b = sg.off + sg.length
			continue
		}
		data = append(data, run{a: sg.off, b: sg.off + sg.length})
	}
	// Data runs are unions of whole segments: every zero segment lies wholly inside one or wholly outside all.
	var out []run
	d := 0
	for _, sg := range segs {
		for d < len(data) && data[d].b <= sg.off {
			out = append(out, data[d])
			d++
		}
		if sg.src != srcZero || (d < len(data) && data[d].a <= sg.off) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].zero && out[n-1].b == sg.off {
			out[n-1].b += sg.length
			continue
		}
		out = append(out, run{a: sg.off, b: sg.off + sg.length, zero: true})
	}
	return append(out, data[d:]...)
}
