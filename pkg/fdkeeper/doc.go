// Package fdkeeper keeps FUSE connections alive across restarts of the process that serves them.
//
// A FUSE mount lives as long as some process holds a descriptor of its /dev/fuse connection. When the CSI node
// plugin dies, its descriptors close and every mount it served fails (ENOTCONN) for the applications using it.
// The keeper is a small process that does no I/O on the connections: the plugin sends it a duplicate of each
// connection it mounts (Keep), and a restarted plugin gets them back (Get) and serves them again
// (fusefs.Options.Takeover), so applications only see a pause.
//
//	k := fdkeeper.NewKeeper(log)
//	go k.Serve(ctx, "/csi/fdkeeper.sock")   // csi-driver fdkeeper
//
//	c := fdkeeper.NewClient("/csi/fdkeeper.sock")
//	srv, err := fusefs.Mount(dir, st, fusefs.Options{Keeper: c})      // first start
//	conn, err := c.Get(dir)                                           // after a restart
//	srv, err := fusefs.Mount(dir, st, fusefs.Options{Keeper: c, Takeover: conn})
//
// # Protocol
//
// A unix SOCK_SEQPACKET socket; each request is one message (a JSON request, with the descriptor attached as
// SCM_RIGHTS for keep) answered by one message (a JSON reply, with the descriptor attached for get). Only
// clients running as the keeper's user are served: a connection's descriptor gives full access to the volume.
//
// # Lifetime of a kept connection
//
// The keeper drops a connection when asked (fusefs.Server.Unmount does) and, on its own, when the kernel has
// aborted it (the descriptor polls POLLERR: the mount was unmounted by someone else, or aborted through
// /sys/fs/fuse/connections). If the keeper itself dies, the kept connections close with it; mounts whose
// server is alive are unaffected (the server holds its own descriptor) but will not survive the server's next
// restart until re-kept; the plugin re-keeps every mount it serves when it starts.
package fdkeeper
