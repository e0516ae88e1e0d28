// Package chunks stores file data of a CassFS volume in Cassandra as immutable compressed blocks referenced by
// append-only slice records. pkg/cassandra (inodes, directory entries) calls it for the data of regular files.
//
// Full design notes follow in later commits; see the method docs of Store.
package chunks
