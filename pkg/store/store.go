// Package store defines the contract between the CassFS filesystem (pkg/fusefs) and the place a volume lives.
//
// A Store is one mounted volume seen by one client session. pkg/cassandra implements it on Apache Cassandra;
// memstore.New implements it in memory for fast tests. Both pass the same conformance suite (storetest.Run),
// which is the executable form of the contracts written here.
//
// # Errors
//
// Every method returns nil or an error that is, or wraps, a syscall.Errno (ENOENT, EEXIST, ENOTEMPTY, ENOTDIR,
// EISDIR, ENAMETOOLONG, ENOSPC, EINVAL, ENODATA, ERANGE, EXDEV, EIO, ...). Errno reports what the caller gets at
// the filesystem edge; callers convert with ToErrno. An error that is not an Errno (a lost connection, a timeout
// whose outcome could not be resolved) means EIO.
//
// # Names
//
// A name is one path component: not empty, not "." or "..", no '/' or NUL (EINVAL), at most MaxNameLen bytes
// (ENAMETOOLONG). Methods that take a name validate it before touching anything.
//
// # Concurrency and caching
//
// A Store is safe for concurrent use. GetAttr, Lookup and ReadDir are current on every session; only file data
// may be served from a session's cache until the file is opened again (Open), which is close-to-open
// consistency. A closed Store returns EIO.
//
// # Quota
//
// Usage is exact once operations have returned. A write or create is never refused below the limit; under
// concurrency the limit may be overshot by at most one operation per other concurrent writer (Cassandra checks
// usage, then writes, without a transaction across the two).
//
// # Time
//
// Times are nanoseconds since the Unix epoch. Operations set ctime/mtime as POSIX says (create: the parent's
// mtime and ctime; write: the file's mtime and ctime; setattr: ctime). atime is only changed by SetAttr.
package store

import (
	"context"
	"errors"
	"syscall"
)

// Ino is an inode number. Numbers are never reused within a volume.
type Ino uint64

// RootIno is the inode number of a volume's root directory, which always exists.
const RootIno Ino = 1

// MaxNameLen is the longest name, in bytes, a directory entry may have.
const MaxNameLen = 255

// Limits on extended attributes (as Linux's VFS enforces them).
const (
	MaxXattrNameLen  = 255
	MaxXattrValueLen = 64 * 1024
)

// FileType is the type of an inode.
type FileType uint8

const (
	TypeFile FileType = iota + 1
	TypeDir
	TypeSymlink
	TypeFIFO
	TypeSocket
	TypeCharDev
	TypeBlockDev
)

// Attr holds an inode's attributes.
type Attr struct {
	Ino        Ino
	Type       FileType
	Mode       uint32 // permission bits plus setuid, setgid and sticky (mask 07777); no type bits
	Uid, Gid   uint32
	Nlink      uint32 // directories: 2 + number of subdirectories
	Size       uint64 // files: bytes; symlinks: length of the target; directories: 0 or an implementation's choice
	Atime      int64
	Mtime      int64
	Ctime      int64
	Rdev       uint32 // device number of character and block devices
	Generation uint64 // changes if an inode number could ever be seen again with another identity
	// Version changes with every change of the inode's data or of any other field above, made by any session
	// (it may also change when nothing visible did). Two reads returning the same non-zero Version saw the same
	// data and attributes, which lets a mount keep cached file contents across opens. 0: not tracked.
	Version uint64
}

// NewNode describes an inode to create.
type NewNode struct {
	Type   FileType
	Mode   uint32 // stored as given (the kernel has applied the umask); bits outside 07777 are EINVAL
	Uid    uint32
	Gid    uint32
	Rdev   uint32 // TypeCharDev and TypeBlockDev
	Target string // TypeSymlink: the target, 1..4095 bytes (empty: EINVAL, longer: ENAMETOOLONG)
	// InheritSetgid applies the parent directory's set-group-ID bit as Linux does: when the parent has it, the
	// new node belongs to the parent's group (Gid is ignored) and a new directory gets the bit too. The store
	// reads the parent anyway, so a caller that wants this need not read it first.
	InheritSetgid bool
}

// ApplySetgid returns nn as created in a directory with attributes parent (see NewNode.InheritSetgid).
func ApplySetgid(nn NewNode, parent Attr) NewNode {
	if nn.InheritSetgid && parent.Mode&syscall.S_ISGID != 0 {
		nn.Gid = parent.Gid
		if nn.Type == TypeDir {
			nn.Mode |= syscall.S_ISGID
		}
	}
	return nn
}

// Dirent is one directory entry.
type Dirent struct {
	Name string
	Ino  Ino
	Type FileType
}

// SetAttrMask says which fields of SetAttrIn apply.
type SetAttrMask uint32

const (
	SetMode SetAttrMask = 1 << iota
	SetUid
	SetGid
	SetSize
	SetAtime
	SetMtime
	SetCtime // set ctime explicitly; otherwise any change sets ctime to now
)

// SetAttrIn is the argument of SetAttr.
type SetAttrIn struct {
	Valid SetAttrMask
	Mode  uint32
	Uid   uint32
	Gid   uint32
	Size  uint64
	Atime int64
	Mtime int64
	Ctime int64
}

// Rename flags, as renameat2(2).
const (
	RenameNoReplace uint32 = 1 << 0
	RenameExchange  uint32 = 1 << 1
)

// Xattr flags, as setxattr(2).
const (
	XattrCreate  uint32 = 1
	XattrReplace uint32 = 2
)

// Fallocate modes, as fallocate(2). Other modes are EOPNOTSUPP.
const (
	FallocKeepSize uint32 = 0x01
)

// Usage is a volume's accounting, cheap to read.
type Usage struct {
	Bytes         uint64 // logical bytes of all files' data
	Inodes        uint64 // inodes in use, the root included
	CapacityBytes uint64 // the quota; 0 means unlimited
	MaxInodes     uint64 // 0 means unlimited
}

// Namespace holds inodes and directory entries.
type Namespace interface {
	// GetAttr returns the attributes of ino; ENOENT if it does not exist (or was deleted).
	GetAttr(ctx context.Context, ino Ino) (Attr, error)
	// Lookup returns the attributes of the inode that name refers to in directory parent.
	// ENOENT if there is no such entry, ENOTDIR if parent is not a directory.
	Lookup(ctx context.Context, parent Ino, name string) (Attr, error)
	// Mknod creates a new inode of any type (file, directory, symlink, FIFO, socket, device) and its entry in
	// parent, exclusively: of several concurrent creators of one name (on any mount) exactly one succeeds and the
	// others get EEXIST. ENOSPC when the volume's inode limit is reached. Directories start with nlink 2 and raise
	// the parent's nlink by one.
	Mknod(ctx context.Context, parent Ino, name string, n NewNode) (Attr, error)
	// Link adds an entry name in parent for the existing inode ino (not a directory: EPERM) and raises its nlink.
	// EEXIST if the name exists; ENOENT if ino has no links left (as Linux). Returns ino's new attributes.
	Link(ctx context.Context, ino Ino, parent Ino, name string) (Attr, error)
	// Unlink removes the entry name (not a directory: EISDIR) from parent and lowers the inode's nlink. The inode
	// and its data are deleted when nlink reaches 0 and no session holds it open (see Open). Returns the inode's
	// attributes after the change.
	Unlink(ctx context.Context, parent Ino, name string) (Attr, error)
	// Rmdir removes the empty directory name from parent: ENOTDIR if it is not a directory, ENOTEMPTY if it has
	// entries.
	Rmdir(ctx context.Context, parent Ino, name string) error
	// Rename moves oldName in oldParent to newName in newParent, as rename(2)/renameat2(2): an existing target is
	// replaced atomically (a file by a file, a directory by an empty directory; otherwise EISDIR, ENOTDIR or
	// ENOTEMPTY), RenameNoReplace gives EEXIST instead, RenameExchange swaps the two (both must exist). Moving a
	// directory into its own subtree is EINVAL. Renaming onto the same inode is a no-op. After a crash at any step
	// the tree has no dangling entry and no lost inode.
	Rename(ctx context.Context, oldParent Ino, oldName string, newParent Ino, newName string, flags uint32) error
	// ReadDir returns up to limit entries (limit <= 0: all) of directory dir whose names sort (bytewise) after the name after, in
	// order. "." and ".." are not included. A listing resumed from any name is stable under concurrent changes:
	// entries that exist throughout appear exactly once. ENOTDIR if dir is not a directory.
	ReadDir(ctx context.Context, dir Ino, after string, limit int) ([]Dirent, error)
	// SetAttr changes the fields named by in.Valid and sets ctime (now, unless SetCtime). Changing the size of a
	// file truncates or extends it (the extension reads as zeros) and sets mtime too unless SetMtime is given;
	// EISDIR for a directory, EINVAL otherwise for non-files. Growing past the quota is ENOSPC. Returns the new
	// attributes.
	SetAttr(ctx context.Context, ino Ino, in SetAttrIn) (Attr, error)
	// Readlink returns a symlink's target; EINVAL if ino is not a symlink.
	Readlink(ctx context.Context, ino Ino) (string, error)
}

// Xattrs holds extended attributes.
type Xattrs interface {
	// GetXattr returns the value of name; ENODATA if it is not set.
	GetXattr(ctx context.Context, ino Ino, name string) ([]byte, error)
	// SetXattr sets name to value. XattrCreate: EEXIST if set; XattrReplace: ENODATA if not set. Names over
	// MaxXattrNameLen or empty are ERANGE/EINVAL, values over MaxXattrValueLen are E2BIG.
	SetXattr(ctx context.Context, ino Ino, name string, value []byte, flags uint32) error
	// ListXattr returns the names set on ino, sorted.
	ListXattr(ctx context.Context, ino Ino) ([]string, error)
	// RemoveXattr removes name; ENODATA if it is not set.
	RemoveXattr(ctx context.Context, ino Ino, name string) error
}

// Data holds file contents.
type Data interface {
	// Write stores data at offset off of file ino and returns the new attributes (size grows to off+len if
	// larger; mtime and ctime are set to now). When Write returns, the bytes are durable at the volume's
	// consistency level and visible to every mount that opens the file afterwards. Writes never read-modify-write
	// stored data: two writers on disjoint ranges, on any mounts, never lose each other's bytes. ENOSPC if the
	// volume's quota would be exceeded; EISDIR/EINVAL for non-files. Writes of up to a chunk are one unit; larger
	// writes are split at chunk boundaries.
	Write(ctx context.Context, ino Ino, off uint64, data []byte) (Attr, error)
	// Read fills buf from offset off of file ino and returns the number of bytes read: fewer than len(buf) only at
	// end of file. Holes read as zeros.
	Read(ctx context.Context, ino Ino, off uint64, buf []byte) (int, error)
	// Fallocate reserves [off, off+length) of file ino: mode 0 grows the size to off+length if larger;
	// FallocKeepSize leaves the size alone. Reserved ranges read as zeros unless written. ENOSPC past the quota;
	// EINVAL for a zero length.
	Fallocate(ctx context.Context, ino Ino, mode uint32, off, length uint64) (Attr, error)
}

// Sessions tracks which files a mount holds open.
type Sessions interface {
	// Open records that this session holds ino open, so that unlinking its last name keeps the inode and its data
	// until Release. It also drops any cached view of the file so that data flushed by other mounts before Open is
	// seen (close-to-open consistency). Returns the current attributes.
	Open(ctx context.Context, ino Ino) (Attr, error)
	// Release undoes one Open (EBADF if this session does not hold ino open). When the last holder (on any
	// session) releases an inode with nlink 0, its data is deleted. Open also works on an inode that is unlinked
	// but still held open by this or another session.
	Release(ctx context.Context, ino Ino) error
}

// Store is one volume as seen by one client session.
type Store interface {
	Namespace
	Xattrs
	Data
	Sessions
	// StatFS returns the volume's usage and quota.
	StatFS(ctx context.Context) (Usage, error)
	// Close ends the session: open files are released, background work stops. Other methods then fail.
	Close() error
}

// ToErrno converts an error from a Store to the errno the filesystem returns: nil is 0, an error that is or wraps
// a syscall.Errno is that errno, anything else is EIO.
func ToErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	if errors.Is(err, context.Canceled) {
		return syscall.EINTR
	}
	return syscall.EIO
}

// CheckName validates one path component (see the package doc).
func CheckName(name string) error {
	if name == "" || name == "." || name == ".." {
		return syscall.EINVAL
	}
	if len(name) > MaxNameLen {
		return syscall.ENAMETOOLONG
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return syscall.EINVAL
		}
	}
	return nil
}
