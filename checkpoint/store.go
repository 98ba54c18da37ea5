package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Options configure Open.
type Options struct {
	// Timeout is how long Open waits for another gcbatch holding the file. Zero means 1 second:
	// long enough to ride out a process that is just exiting, short enough that a user is told
	// at once instead of staring at a hang.
	Timeout time.Duration
	// ReadOnly opens the file for reading (runs list/show) and shares it with other readers.
	ReadOnly bool
}

// Store is the state file: one bbolt database holding the runs, the row ledger, pending exports
// and the export budget. It is safe for use by many goroutines; writes should go through one
// writer goroutine that group-commits (see Committer), because every bbolt Update is an fsync.
type Store struct {
	db   *bolt.DB
	path string
	// baseMapped is the file-backed RSS when the store opened (-1 if unknown), the baseline
	// lookups measure the state file's mapped pages against.
	baseMapped int64
}

// ErrLocked is returned (wrapped) when another process holds the state file.
var ErrLocked = errors.New("state file is in use by another gcbatch process")

// ErrDamaged is returned (wrapped) when the state file is not a readable gcbatch state file.
var ErrDamaged = errors.New("state file is damaged or not a gcbatch state file")

// Open opens or creates the state file at path with mode 0600.
func Open(path string, opts Options) (st *Store, err error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	// bbolt validates the meta pages, but a file damaged in just the wrong place can still make
	// it panic while opening; turn that into the same clear error as any other damage.
	// The panic leaves bbolt's file open and locked; close it so that a later Open in this
	// process is not told the file is in use.
	var file *os.File
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				file.Close()
			}
			st, err = nil, damaged(path, fmt.Errorf("%v", r))
		}
	}()
	// A folder is not damage: the advice to move it aside and lose the ledger would be wrong.
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return nil, fmt.Errorf("%s is a folder: --state takes the path of a file, such as %s", path, filepath.Join(path, "state.db"))
	}
	// A file cut short (a full disk, a partial copy) can have valid meta pages that point past
	// its end; bbolt would map those pages and the first read would crash the process.
	if err := checkLength(path); err != nil {
		return nil, damaged(path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  opts.Timeout,
		ReadOnly: opts.ReadOnly,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	if err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("%s: %w (another import or export is running on it; wait for it to finish, or use --state to pick another file)", path, ErrLocked)
		case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
			errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrInvalidMapping):
			return nil, damaged(path, err)
		case errors.Is(err, os.ErrNotExist) && opts.ReadOnly:
			return nil, fmt.Errorf("%s: no state file yet (nothing has run with this --state)", path)
		}
		// A truncated file shows up as assorted I/O or mmap errors; anything bbolt cannot open
		// that is not a permission problem is treated as damage so the user gets the way out.
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return nil, damaged(path, err)
	}
	st = &Store{db: db, path: path, baseMapped: mappedResident()}
	if !opts.ReadOnly {
		if err := db.Update(func(tx *bolt.Tx) error {
			for _, b := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			db.Close()
			return nil, damaged(path, err)
		}
	}
	return st, nil
}

// checkLength compares the size the newest valid meta page records with the file's length.
// Files without a valid meta page are left to bbolt, which reports them as invalid.
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // missing (to be created) or unreadable: bbolt reports it
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.Size() == 0 {
		return nil
	}
	// Meta page 0 is at offset 0 and meta page 1 one page further; bbolt uses the valid one
	// with the higher transaction id.
	m0, ok0 := readMeta(f, 0)
	m1, ok1 := readMeta(f, int64(m0.pageSize))
	if !ok0 && !ok1 {
		return nil
	}
	newest := m0
	if !ok0 || ok1 && m1.txid > m0.txid {
		newest = m1
	}
	if need := newest.pages * uint64(newest.pageSize); need > uint64(info.Size()) {
		return fmt.Errorf("file is %d bytes but its contents need %d: it was cut short", info.Size(), need)
	}
	return nil
}

type boltMeta struct {
	pageSize    uint32
	pages, txid uint64
}

// readMeta reads the meta page at off; ok reports a valid magic and checksum. pageSize is
// returned even when invalid, as a hint where meta page 1 is.
func readMeta(f *os.File, off int64) (m boltMeta, ok bool) {
	var buf [boltPageHeader + boltMetaSize]byte
	if _, err := f.ReadAt(buf[:], off); err != nil {
		return m, false
	}
	b, ne := buf[boltPageHeader:], binary.NativeEndian
	m = boltMeta{pageSize: ne.Uint32(b[8:]), pages: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<20 {
		m.pageSize = 0
		return m, false
	}
	h := fnv.New64a()
	h.Write(b[:56])
	return m, ne.Uint32(b) == boltMagic && h.Sum64() == ne.Uint64(b[56:])
}

// The parts of bbolt's on-disk format checkLength reads: a 16-byte page header, then the meta
// (magic, version, page size, flags, root bucket, freelist page, high-water page id, txid,
// checksum of the 56 bytes before it).
const (
	boltPageHeader = 16
	boltMetaSize   = 64
	boltMagic      = 0xED0CDAED
)

func damaged(path string, cause error) error {
	return fmt.Errorf("%s: %w (%v). Move it aside (mv %s %s.bad) to start with fresh state: imports will then resend rows the old file had confirmed, so only do it if you accept that", path, ErrDamaged, cause, path, path)
}

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Close closes the file. Pending Committer writes must be flushed first.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the bbolt handle to the files of this package's siblings in the same package only;
// it is unexported on purpose elsewhere. (Kept as a method so tests can inspect raw contents.)
func (s *Store) bolt() *bolt.DB { return s.db }

// Bucket names. Every bucket a part of gcbatch uses is created when the file is opened, so
// readers never have to handle a missing bucket.
var (
	bucketRuns    = []byte("runs")
	bucketLedger  = []byte("ledger")
	bucketSeen    = []byte("seen")
	bucketExports = []byte("exports")
	bucketBudget  = []byte("budget")
	bucketCache   = []byte("cache")
	bucketMeta    = []byte("meta")
	allBuckets    = [][]byte{bucketRuns, bucketLedger, bucketSeen, bucketExports, bucketBudget, bucketCache, bucketMeta}
)

// guardedView runs fn in a read transaction. bbolt panics on a page that is not what its
// parent says it is; that can only be damage, so it becomes ErrDamaged instead of a crash.
// bbolt rolls the transaction back on the way out, so the file stays usable.
func (s *Store) guardedView(fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = damaged(s.path, fmt.Errorf("%v", r))
		}
	}()
	return s.db.View(fn)
}

// guardedUpdate is guardedView for a write transaction.
func (s *Store) guardedUpdate(fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = damaged(s.path, fmt.Errorf("%v", r))
		}
	}()
	return s.db.Update(fn)
}
