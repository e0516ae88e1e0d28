package chunks

import "fmt"

// Schema returns the CREATE TABLE IF NOT EXISTS statements for the tables of this package in keyspace ks, which
// the caller has validated ([a-z0-9_]{1,48}).
//
//   - slices: one partition per (inode, chunk), one row per slice, clustered oldest first by (ts, writer, gen);
//     rows are inserted once and deleted by exact key, never updated.
//   - file_chunks: one partition per inode, one row per chunk that has (or had) slices, inserted before the
//     chunk's first slice; Truncate and Delete visit only these chunks, so sparse files cost what they hold.
//   - blocks: one partition per block (its writer's id and sequence number); the compressed bytes, their codec
//     and uncompressed length, and the inode (for offline checks). Cassandra's own compression is off: the
//     bytes are compressed already.
func Schema(ks string) []string {
	return []string{
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.slices (
	ino bigint, chunk bigint, ts bigint, writer bigint, gen bigint,
	pos int, len int, zero boolean, bwriter bigint, bseq bigint, bsize int,
	PRIMARY KEY ((ino, chunk), ts, writer, gen))`, ks),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.file_chunks (
	ino bigint, chunk bigint,
	PRIMARY KEY ((ino), chunk))`, ks),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.blocks (
	writer bigint, seq bigint, ino bigint, codec tinyint, rawlen int, data blob,
	PRIMARY KEY ((writer, seq)))
	WITH compression = {'enabled': 'false'}`, ks),
	}
}

// queries holds the CQL of every statement, built once from the validated keyspace; values are always bound.
type queries struct {
	insertBlock, selectBlock, deleteBlock           string
	insertSlice, selectSlices, deleteSlice, dropAll string
	deleteBefore                                    string
	insertIndex, selectIndex, dropIndex             string
}

func newQueries(ks string) queries {
	return queries{
		insertBlock: fmt.Sprintf(`INSERT INTO %s.blocks (writer, seq, ino, codec, rawlen, data) VALUES (?, ?, ?, ?, ?, ?)`, ks),
		selectBlock: fmt.Sprintf(`SELECT codec, rawlen, data FROM %s.blocks WHERE writer = ? AND seq = ?`, ks),
		deleteBlock: fmt.Sprintf(`DELETE FROM %s.blocks WHERE writer = ? AND seq = ?`, ks),
		insertSlice: fmt.Sprintf(`INSERT INTO %s.slices (ino, chunk, ts, writer, gen, pos, len, zero, bwriter, bseq, bsize) `+
			`VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, ks),
		selectSlices: fmt.Sprintf(`SELECT ts, writer, gen, pos, len, zero, bwriter, bseq, bsize FROM %s.slices `+
			`WHERE ino = ? AND chunk = ?`, ks),
		deleteSlice:  fmt.Sprintf(`DELETE FROM %s.slices WHERE ino = ? AND chunk = ? AND ts = ? AND writer = ? AND gen = ?`, ks),
		dropAll:      fmt.Sprintf(`DELETE FROM %s.slices WHERE ino = ? AND chunk = ?`, ks),
		deleteBefore: fmt.Sprintf(`DELETE FROM %s.slices WHERE ino = ? AND chunk = ? AND ts < ?`, ks),
		insertIndex:  fmt.Sprintf(`INSERT INTO %s.file_chunks (ino, chunk) VALUES (?, ?)`, ks),
		selectIndex:  fmt.Sprintf(`SELECT chunk FROM %s.file_chunks WHERE ino = ? AND chunk >= ? AND chunk < ?`, ks),
		dropIndex:    fmt.Sprintf(`DELETE FROM %s.file_chunks WHERE ino = ?`, ks),
	}
}
