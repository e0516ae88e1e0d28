package cassandra

import "github.com/cassfs/cassfs/pkg/store"

func newFile() store.NewNode { return store.NewNode{Type: store.TypeFile, Mode: 0o644} }
func newDir() store.NewNode  { return store.NewNode{Type: store.TypeDir, Mode: 0o755} }
